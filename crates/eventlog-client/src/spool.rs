//! `Spool`: the durable local buffer events go to when the sink is down or the memory
//! queue is full, replayed in order when the sink recovers.
//!
//! Layout of a spool directory:
//! - `segments/NNNNNNNNNNNNNNNNNNNN.seg`: append-only segment files. The head segment is
//!   written; older ones are sealed and replayed oldest first. A process never appends to a
//!   segment it did not create, so a record torn by `kill -9` stays where it was torn.
//! - `segments/NNNN.ack`: how many bytes of that segment were delivered (8 bytes, LE).
//! - `quarantine/`: bytes set aside because their checksum or framing was wrong.
//!
//! A record is `MAGIC (4) | payload length (u32 LE) | CRC-32 of payload (u32 LE) |
//! payload`. A damaged record is found by its checksum, set aside in `quarantine/`,
//! counted, and the reader resynchronises on the next magic, so damage never blocks the
//! replay of the rest.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ClientError;

const MAGIC: [u8; 4] = *b"ELR1";
const HEADER: usize = 12;
/// Largest record accepted; a length above this is treated as damage, not allocated.
const MAX_RECORD: usize = 4 << 20;

/// When appended records are forced to disk with `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every append: nothing acknowledged is lost on power failure; slowest.
    EveryAppend,
    /// At most this long after an append (group fsync): a power failure loses at most
    /// this window, `kill -9` loses nothing (the data is in the kernel).
    Interval(Duration),
    /// Leave it to the OS.
    Never,
}

/// How a spool behaves.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Roll to a new segment once the head reaches this size.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::Interval(Duration::from_millis(200)),
            segment_bytes: 16 << 20,
        }
    }
}

/// One piece of a segment as read back.
#[derive(Debug, PartialEq)]
pub enum Piece<'a> {
    /// An intact record.
    Record {
        /// Where the record starts.
        offset: usize,
        /// Where the next piece starts.
        end: usize,
        /// Its payload.
        payload: &'a [u8],
    },
    /// Bytes that are not an intact record.
    Damage {
        /// Where the damage starts.
        offset: usize,
        /// Where it ends (the next magic or the end of the data).
        end: usize,
        /// Whether it runs to the end of the data: a write cut short (torn), as opposed
        /// to a corrupted record in the middle.
        torn: bool,
    },
}

/// Frames `payload` as one record.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Splits segment bytes from `start` into intact records and damaged ranges.
pub fn decode(data: &[u8], start: usize) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut pos = start;
    while pos < data.len() {
        match read_record(data, pos) {
            Some((payload, end)) => {
                pieces.push(Piece::Record {
                    offset: pos,
                    end,
                    payload,
                });
                pos = end;
            }
            None => {
                let next = find_magic(data, pos + 1);
                pieces.push(Piece::Damage {
                    offset: pos,
                    end: next.unwrap_or(data.len()),
                    torn: next.is_none(),
                });
                pos = next.unwrap_or(data.len());
            }
        }
    }
    pieces
}

fn read_record(data: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let header = data.get(pos..pos + HEADER)?;
    if header[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[8..12].try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let payload = data.get(pos + HEADER..pos + HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some((payload, pos + HEADER + len))
}

fn find_magic(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(MAGIC.len())
        .position(|w| w == MAGIC)
        .map(|p| p + from)
}

/// What a spool holds, for `monitor` and the logger's stats.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpoolState {
    /// Records waiting for delivery.
    pub pending_records: u64,
    /// Bytes of segment files not yet delivered.
    pub pending_bytes: u64,
    /// Segment files on disk.
    pub segments: usize,
    /// Modification time of the oldest segment with pending records (Unix seconds).
    pub oldest_pending_unix: Option<i64>,
    /// Damaged ranges found (and set aside) since the spool was opened.
    pub corrupt_records: u64,
    /// Of those, writes cut short at the end of a segment.
    pub torn_records: u64,
}

/// A batch of spooled records read for delivery; [`Spool::ack`] it once delivered.
#[derive(Debug)]
pub struct SpoolBatch {
    /// The payloads, oldest first.
    pub payloads: Vec<Vec<u8>>,
    segment: u64,
    end: usize,
    last_of_segment: bool,
}

/// The durable local spool of one logger (see the module docs).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    config: SpoolConfig,
    head: Option<(u64, File, u64)>,
    next_segment: u64,
    unsynced_since: Option<Instant>,
    pending_records: u64,
    corrupt: u64,
    torn: u64,
}

impl Spool {
    /// Opens (creating) the spool in `dir` and counts what it holds.
    pub fn open(dir: impl AsRef<Path>, config: SpoolConfig) -> Result<Self, ClientError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(dir.join("segments")).map_err(|e| ClientError::io(&dir, e))?;
        fs::create_dir_all(dir.join("quarantine")).map_err(|e| ClientError::io(&dir, e))?;
        let mut spool = Self {
            next_segment: 1,
            dir,
            config,
            head: None,
            unsynced_since: None,
            pending_records: 0,
            corrupt: 0,
            torn: 0,
        };
        let segments = spool.segment_ids()?;
        spool.next_segment = segments.last().map_or(1, |s| s + 1);
        for id in segments {
            let data = spool.read_segment(id)?;
            let acked = spool.acked(id);
            spool.pending_records += decode(&data, acked)
                .iter()
                .filter(|p| matches!(p, Piece::Record { .. }))
                .count() as u64;
        }
        Ok(spool)
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records waiting for delivery.
    pub fn pending(&self) -> u64 {
        self.pending_records
    }

    /// Appends records (one write call), fsyncing as configured.
    pub fn append<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<(), ClientError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(payloads.iter().map(|p| p.as_ref().len() + HEADER).sum());
        for p in payloads {
            encode_record(p.as_ref(), &mut buf);
        }
        let (_, file, size) = self.head()?;
        file.write_all(&buf)
            .map_err(|e| ClientError::Spool(format!("append failed: {e}")))?;
        *size += buf.len() as u64;
        self.pending_records += payloads.len() as u64;
        match self.config.fsync {
            FsyncPolicy::EveryAppend => self.sync()?,
            FsyncPolicy::Interval(_) => {
                self.unsynced_since.get_or_insert_with(Instant::now);
            }
            FsyncPolicy::Never => {}
        }
        if self
            .head
            .as_ref()
            .is_some_and(|(_, _, size)| *size >= self.config.segment_bytes)
        {
            self.seal()?;
        }
        Ok(())
    }

    /// Fsyncs the head segment if the configured interval has passed since the oldest
    /// unsynced append. Call it periodically.
    pub fn sync_due(&mut self) -> Result<(), ClientError> {
        if let (FsyncPolicy::Interval(every), Some(since)) =
            (self.config.fsync, self.unsynced_since)
        {
            if since.elapsed() >= every {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Fsyncs the head segment now.
    pub fn sync(&mut self) -> Result<(), ClientError> {
        if let Some((_, file, _)) = &self.head {
            file.sync_data()
                .map_err(|e| ClientError::Spool(format!("fsync failed: {e}")))?;
        }
        self.unsynced_since = None;
        Ok(())
    }

    /// Reads up to `max` pending records, oldest first, sealing the head segment if it is
    /// the only one left. Damaged ranges met on the way are set aside and counted.
    pub fn read_batch(&mut self, max: usize) -> Result<Option<SpoolBatch>, ClientError> {
        loop {
            let Some(&oldest) = self.segment_ids()?.first() else {
                return Ok(None);
            };
            if self.head.as_ref().is_some_and(|(id, _, _)| *id == oldest) {
                self.seal()?;
            }
            let data = self.read_segment(oldest)?;
            let acked = self.acked(oldest);
            let mut payloads = Vec::new();
            let mut end = acked;
            let mut pieces = decode(&data, acked).into_iter().peekable();
            for piece in pieces.by_ref() {
                match piece {
                    Piece::Record {
                        end: e, payload, ..
                    } => {
                        payloads.push(payload.to_vec());
                        end = e;
                    }
                    Piece::Damage {
                        offset,
                        end: e,
                        torn,
                    } => {
                        self.quarantine(oldest, offset, &data[offset..e])?;
                        if torn {
                            self.torn += 1;
                        }
                        self.corrupt += 1;
                        end = e;
                        if payloads.is_empty() {
                            self.write_ack(oldest, e)?;
                        }
                    }
                }
                if payloads.len() >= max {
                    break;
                }
            }
            let last_of_segment = pieces.peek().is_none();
            if payloads.is_empty() {
                self.remove_segment(oldest)?;
                continue;
            }
            return Ok(Some(SpoolBatch {
                payloads,
                segment: oldest,
                end,
                last_of_segment,
            }));
        }
    }

    /// Marks a batch delivered: it is never read again (a segment fully delivered is
    /// deleted).
    pub fn ack(&mut self, batch: SpoolBatch) -> Result<(), ClientError> {
        self.pending_records = self
            .pending_records
            .saturating_sub(batch.payloads.len() as u64);
        if batch.last_of_segment {
            self.remove_segment(batch.segment)
        } else {
            self.write_ack(batch.segment, batch.end)
        }
    }

    /// Sizes, age and damage counters.
    pub fn state(&self) -> Result<SpoolState, ClientError> {
        let mut state = SpoolState {
            pending_records: self.pending_records,
            corrupt_records: self.corrupt,
            torn_records: self.torn,
            ..SpoolState::default()
        };
        for id in self.segment_ids()? {
            let path = self.segment_path(id);
            let meta = fs::metadata(&path).map_err(|e| ClientError::io(&path, e))?;
            let acked = self.acked(id) as u64;
            state.segments += 1;
            if meta.len() > acked {
                state.pending_bytes += meta.len() - acked;
                if state.oldest_pending_unix.is_none() {
                    state.oldest_pending_unix = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs() as i64);
                }
            }
        }
        Ok(state)
    }

    /// Deletes every pending record (after confirmation in `monitor --clear`).
    pub fn clear(&mut self) -> Result<u64, ClientError> {
        let dropped = self.pending_records;
        self.head = None;
        for id in self.segment_ids()? {
            self.remove_segment(id)?;
        }
        self.pending_records = 0;
        Ok(dropped)
    }

    /// Verifies every record of every segment like fsck: damaged ranges are moved to
    /// `quarantine/` and each segment is rewritten with only its intact pending records.
    /// Run it while no logger writes to this spool.
    pub fn check(&mut self) -> Result<CheckReport, ClientError> {
        self.head = None;
        let mut report = CheckReport::default();
        for id in self.segment_ids()? {
            let data = self.read_segment(id)?;
            let mut clean = Vec::new();
            let mut damaged = false;
            for piece in decode(&data, self.acked(id)) {
                match piece {
                    Piece::Record { payload, .. } => {
                        report.intact += 1;
                        encode_record(payload, &mut clean);
                    }
                    Piece::Damage { offset, end, torn } => {
                        damaged = true;
                        report.damaged += 1;
                        report.torn += u64::from(torn);
                        report.quarantined_bytes += (end - offset) as u64;
                        self.quarantine(id, offset, &data[offset..end])?;
                    }
                }
            }
            report.segments += 1;
            if damaged {
                let path = self.segment_path(id);
                let tmp = path.with_extension("tmp");
                fs::write(&tmp, &clean).map_err(|e| ClientError::io(&tmp, e))?;
                File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| ClientError::io(&tmp, e))?;
                fs::rename(&tmp, &path).map_err(|e| ClientError::io(&path, e))?;
                let _ = fs::remove_file(self.ack_path(id));
            }
        }
        Ok(report)
    }

    fn head(&mut self) -> Result<&mut (u64, File, u64), ClientError> {
        if self.head.is_none() {
            let id = self.next_segment;
            self.next_segment += 1;
            let path = self.segment_path(id);
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|e| ClientError::io(&path, e))?;
            self.head = Some((id, file, 0));
        }
        Ok(self.head.as_mut().expect("head was just opened"))
    }

    fn seal(&mut self) -> Result<(), ClientError> {
        if self.unsynced_since.is_some() {
            self.sync()?;
        }
        self.head = None;
        Ok(())
    }

    fn segment_ids(&self) -> Result<Vec<u64>, ClientError> {
        let dir = self.dir.join("segments");
        let mut ids: Vec<u64> = fs::read_dir(&dir)
            .map_err(|e| ClientError::io(&dir, e))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name();
                name.to_str()?.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join("segments").join(format!("{id:020}.seg"))
    }

    fn ack_path(&self, id: u64) -> PathBuf {
        self.dir.join("segments").join(format!("{id:020}.ack"))
    }

    fn read_segment(&self, id: u64) -> Result<Vec<u8>, ClientError> {
        let path = self.segment_path(id);
        fs::read(&path).map_err(|e| ClientError::io(&path, e))
    }

    fn acked(&self, id: u64) -> usize {
        fs::read(self.ack_path(id))
            .ok()
            .and_then(|b| Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?) as usize))
            .unwrap_or(0)
    }

    fn write_ack(&self, id: u64, offset: usize) -> Result<(), ClientError> {
        let path = self.ack_path(id);
        let tmp = path.with_extension("ack.tmp");
        fs::write(&tmp, (offset as u64).to_le_bytes()).map_err(|e| ClientError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| ClientError::io(&path, e))
    }

    fn remove_segment(&mut self, id: u64) -> Result<(), ClientError> {
        let path = self.segment_path(id);
        fs::remove_file(&path).map_err(|e| ClientError::io(&path, e))?;
        let _ = fs::remove_file(self.ack_path(id));
        Ok(())
    }

    fn quarantine(&self, segment: u64, offset: usize, bytes: &[u8]) -> Result<(), ClientError> {
        let path = self
            .dir
            .join("quarantine")
            .join(format!("{segment:020}-{offset}.bad"));
        fs::write(&path, bytes).map_err(|e| ClientError::io(&path, e))
    }
}

/// What [`Spool::check`] found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CheckReport {
    /// Segments verified.
    pub segments: usize,
    /// Intact pending records.
    pub intact: u64,
    /// Damaged ranges quarantined.
    pub damaged: u64,
    /// Of those, torn writes at a segment's end.
    pub torn: u64,
    /// Bytes moved to `quarantine/`.
    pub quarantined_bytes: u64,
}
