//! An event's cold fields (user agent, metadata, request and response data, tags, ...: the
//! fields no query filters or sorts on) are stored together in one `payload` column: their
//! JSON, compressed with zstd. Alone, 500 bytes of JSON compress by a quarter at most; with a
//! dictionary trained on the store's own events they compress five- to eightfold, because
//! events repeat the same keys, user agents and shapes. That is most of what keeps a stored
//! event small (`bench/README.md`, "Bytes per event").
//!
//! The dictionary is trained from the first [`TRAIN_SAMPLES`] events a process writes when
//! the store has none (once per store, unless several processes start writing to a fresh
//! store together: each may train one), and kept in `payload_dictionaries`. Each payload
//! is a standard zstd frame whose header names the dictionary it needs (none for the events
//! written before training), so any process can read any row: a dictionary it has not seen
//! (trained by another process) is read from the table first ([`PayloadCodec::missing`]).
//! Rows written before this column existed keep their fields in the old columns and
//! `payload` NULL; reading takes whichever is there.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use eventlog_core::EventRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

use crate::StoreError;

/// Payloads collected before a dictionary is trained from them.
pub(crate) const TRAIN_SAMPLES: usize = 4_000;
/// Size of a trained dictionary. Larger ones gained under 5% on realistic events.
const DICTIONARY_BYTES: usize = 32 * 1024;
/// zstd's default level: level 1 is about 5% larger, higher levels cost more than they save.
const LEVEL: i32 = 3;
/// A payload that claims to inflate beyond this is corrupt (events are limited far below).
const MAX_PLAIN_BYTES: u64 = 64 << 20;

/// The cold fields of an event, as written into a payload (borrowed from the record).
#[derive(Serialize)]
struct ColdRef<'a> {
    event_name: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    related: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_data: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_data: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_time_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

/// The cold fields of a stored event, read back from its payload or from the old columns.
#[derive(Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Cold {
    pub(crate) event_name: String,
    pub(crate) action: String,
    #[serde(default)]
    pub(crate) event_description: Option<String>,
    #[serde(default)]
    pub(crate) user_role: Option<String>,
    #[serde(default)]
    pub(crate) user_agent: Option<String>,
    #[serde(default)]
    pub(crate) resource_name: Option<String>,
    #[serde(default)]
    pub(crate) related: Option<Map<String, Value>>,
    #[serde(default)]
    pub(crate) http_method: Option<String>,
    #[serde(default)]
    pub(crate) http_status: Option<u16>,
    #[serde(default)]
    pub(crate) request_data: Option<Value>,
    #[serde(default)]
    pub(crate) response_data: Option<Value>,
    #[serde(default)]
    pub(crate) error_message: Option<String>,
    #[serde(default)]
    pub(crate) error_code: Option<String>,
    #[serde(default)]
    pub(crate) processing_time_ms: Option<f64>,
    #[serde(default)]
    pub(crate) metadata: Option<Value>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
}

fn cold_json(r: &EventRecord) -> Vec<u8> {
    let cold = ColdRef {
        event_name: &r.event_name,
        action: &r.action,
        event_description: r.event_description.as_deref(),
        user_role: r.user_role.as_deref(),
        user_agent: r.user_agent.as_deref(),
        resource_name: r.resource_name.as_deref(),
        related: r.related.as_ref(),
        http_method: r.http_method.as_deref(),
        http_status: r.http_status,
        request_data: r.request_data.as_ref(),
        response_data: r.response_data.as_ref(),
        error_message: r.error_message.as_deref(),
        error_code: r.error_code.as_deref(),
        processing_time_ms: r.processing_time_ms,
        metadata: r.metadata.as_ref(),
        tags: &r.tags,
    };
    serde_json::to_vec(&cold).expect("an event's fields serialize")
}

/// A dictionary ready to compress with, and the id its frames carry.
struct Encoder {
    id: u32,
    dictionary: CDict<'static>,
}

thread_local! {
    // A zstd context allocates hundreds of KiB; one per thread is reused for every row.
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// Compresses and inflates payloads; shared by a store's writer and readers.
#[derive(Default)]
pub(crate) struct PayloadCodec {
    encoder: RwLock<Option<Arc<Encoder>>>,
    decoders: RwLock<HashMap<u32, Arc<DDict<'static>>>>,
    /// Payloads kept for training while the store has no dictionary; `None` once one is
    /// installed or training has begun.
    samples: Mutex<Option<Vec<Vec<u8>>>>,
}

impl std::fmt::Debug for PayloadCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadCodec")
            .field(
                "encoder",
                &self.read_encoder().as_ref().map(|e| e.id).unwrap_or(0),
            )
            .finish_non_exhaustive()
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("event payload: {what}"))
}

impl PayloadCodec {
    /// A codec with no dictionary yet; [`PayloadCodec::start`] says whether to collect
    /// samples for one.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn read_encoder(&self) -> Option<Arc<Encoder>> {
        self.encoder.read().expect("payload encoder lock").clone()
    }

    /// Installs the stored dictionaries (`(id, bytes)`, any order): the newest compresses,
    /// all inflate. Without any, the codec collects samples to train one.
    pub(crate) fn start(&self, stored: Vec<(i64, Vec<u8>)>) -> Result<(), StoreError> {
        let newest = stored.iter().map(|(id, _)| *id).max();
        for (id, bytes) in &stored {
            self.install(*id, bytes, Some(*id) == newest)?;
        }
        *self.samples.lock().expect("payload samples lock") =
            newest.is_none().then(|| Vec::with_capacity(TRAIN_SAMPLES));
        Ok(())
    }

    /// Makes dictionary `id` known for reading and, with `compress`, for writing.
    pub(crate) fn install(&self, id: i64, bytes: &[u8], compress: bool) -> Result<(), StoreError> {
        let id = u32::try_from(id).map_err(|_| corrupt(format!("dictionary id {id}")))?;
        if zstd_safe::get_dict_id_from_dict(bytes).map(u32::from) != Some(id) {
            return Err(corrupt(format!("dictionary {id} does not carry its id")));
        }
        let ddict = DDict::try_create(bytes).ok_or_else(|| corrupt(format!("dictionary {id}")))?;
        self.decoders
            .write()
            .expect("payload decoders lock")
            .insert(id, Arc::new(ddict));
        if compress {
            let dictionary = CDict::try_create(bytes, LEVEL)
                .ok_or_else(|| corrupt(format!("dictionary {id}")))?;
            *self.encoder.write().expect("payload encoder lock") =
                Some(Arc::new(Encoder { id, dictionary }));
            *self.samples.lock().expect("payload samples lock") = None;
        }
        Ok(())
    }

    /// The ids of the dictionaries this codec can inflate with.
    pub(crate) fn known_ids(&self) -> Vec<i64> {
        let decoders = self.decoders.read().expect("payload decoders lock");
        decoders.keys().map(|id| i64::from(*id)).collect()
    }

    /// Makes the stored dictionaries `stored` (`(id, bytes)`) known for reading.
    pub(crate) fn install_readers(&self, stored: Vec<(i64, Vec<u8>)>) -> Result<(), StoreError> {
        for (id, bytes) in stored {
            self.install(id, &bytes, false)?;
        }
        Ok(())
    }

    /// The payload of `record`: its cold fields' JSON, compressed.
    pub(crate) fn encode(&self, record: &EventRecord) -> Vec<u8> {
        let plain = cold_json(record);
        let encoder = self.read_encoder();
        if encoder.is_none() {
            if let Some(samples) = self
                .samples
                .lock()
                .expect("payload samples lock")
                .as_mut()
                .filter(|s| s.len() < TRAIN_SAMPLES)
            {
                samples.push(plain.clone());
            }
        }
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(plain.len()));
        CCTX.with(|cctx| {
            let mut cctx = cctx.borrow_mut();
            match &encoder {
                Some(e) => cctx.compress_using_cdict(&mut out, &plain, &e.dictionary),
                None => cctx.compress(&mut out, &plain, LEVEL),
            }
        })
        .expect("the output buffer holds the compress bound");
        out
    }

    /// The samples to train a dictionary from, once there are enough (and only once).
    pub(crate) fn take_samples(&self) -> Option<Vec<Vec<u8>>> {
        let mut samples = self.samples.lock().expect("payload samples lock");
        if samples.as_ref().is_some_and(|s| s.len() >= TRAIN_SAMPLES) {
            samples.take()
        } else {
            None
        }
    }

    /// The dictionaries that `payloads` need and this codec does not have.
    pub(crate) fn missing<'a>(&self, payloads: impl Iterator<Item = &'a [u8]>) -> Vec<i64> {
        let decoders = self.decoders.read().expect("payload decoders lock");
        let mut missing: Vec<i64> = payloads
            .filter_map(zstd_safe::get_dict_id_from_frame)
            .map(u32::from)
            .filter(|id| !decoders.contains_key(id))
            .map(i64::from)
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// The cold fields in `payload`.
    pub(crate) fn decode(&self, payload: &[u8]) -> Result<Cold, StoreError> {
        serde_json::from_slice(&self.inflate(payload)?).map_err(corrupt)
    }

    /// The JSON of the cold fields in `payload` (an object; absent fields are left out).
    pub(crate) fn inflate(&self, payload: &[u8]) -> Result<Vec<u8>, StoreError> {
        let size = zstd_safe::get_frame_content_size(payload)
            .map_err(|_| corrupt("not a zstd frame"))?
            .ok_or_else(|| corrupt("no content size"))?;
        if size > MAX_PLAIN_BYTES {
            return Err(corrupt(format!("claims {size} bytes")));
        }
        let mut plain = Vec::with_capacity(size as usize);
        let inflated = match zstd_safe::get_dict_id_from_frame(payload) {
            Some(id) => {
                let ddict = self
                    .decoders
                    .read()
                    .expect("payload decoders lock")
                    .get(&u32::from(id))
                    .cloned()
                    .ok_or_else(|| corrupt(format!("dictionary {id} is not stored")))?;
                DCTX.with(|d| {
                    d.borrow_mut()
                        .decompress_using_ddict(&mut plain, payload, &ddict)
                })
            }
            None => DCTX.with(|d| d.borrow_mut().decompress(&mut plain, payload)),
        };
        inflated.map_err(|code| corrupt(zstd_safe::get_error_name(code)))?;
        Ok(plain)
    }
}

/// A dictionary trained on `samples` (its id is set by [`with_id`]).
fn train(samples: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let dictionary = zstd::dict::from_samples(samples, DICTIONARY_BYTES)
        .map_err(|e| format!("training failed: {e}"))?;
    // A zstd dictionary starts with its magic number, then its id.
    if dictionary.len() < 8 {
        return Err("training gave an empty dictionary".into());
    }
    Ok(dictionary)
}

/// `dictionary` with the id `id`, which the frames compressed with it carry (small ids cost
/// one byte per row).
fn with_id(mut dictionary: Vec<u8>, id: u32) -> Vec<u8> {
    dictionary[4..8].copy_from_slice(&id.to_le_bytes());
    dictionary
}

/// The `payload_dictionaries` table, as each backend reads and writes it.
#[async_trait]
pub(crate) trait DictionaryTable: Send + Sync {
    /// The dictionaries with these ids (all of them for `None`), as `(id, bytes)`.
    async fn dictionaries(&self, ids: Option<&[i64]>) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;
    /// One more than the highest id used.
    async fn next_dictionary_id(&self) -> Result<i64, StoreError>;
    /// Stores a dictionary unless its id is taken (another process trained one meanwhile);
    /// whether it was stored.
    async fn insert_dictionary(
        &self,
        id: i64,
        dictionary: &[u8],
        samples: i64,
    ) -> Result<bool, StoreError>;
}

/// Loads the store's dictionaries into `codec` before its first write.
pub(crate) async fn start(
    codec: &PayloadCodec,
    table: &dyn DictionaryTable,
) -> Result<(), StoreError> {
    codec.start(table.dictionaries(None).await?)
}

/// Loads the dictionaries that `payloads` need and `codec` has not seen (trained by another
/// process since this one started).
pub(crate) async fn load_missing<'a>(
    codec: &PayloadCodec,
    table: &dyn DictionaryTable,
    payloads: impl Iterator<Item = &'a [u8]>,
) -> Result<(), StoreError> {
    let missing = codec.missing(payloads);
    if missing.is_empty() {
        return Ok(());
    }
    codec.install_readers(table.dictionaries(Some(&missing)).await?)
}

/// When `codec` has collected enough samples: trains a dictionary in the background, stores
/// it and compresses with it from then on. Failing only costs compression, so it is logged.
pub(crate) fn learn_in_background(codec: Arc<PayloadCodec>, table: Arc<dyn DictionaryTable>) {
    let Some(samples) = codec.take_samples() else {
        return;
    };
    tokio::spawn(async move {
        if let Err(e) = learn(&codec, table.as_ref(), samples).await {
            tracing::warn!(error = %e, "no payload dictionary was trained; events are stored compressed without one");
        }
    });
}

async fn learn(
    codec: &PayloadCodec,
    table: &dyn DictionaryTable,
    samples: Vec<Vec<u8>>,
) -> Result<(), String> {
    let count = samples.len() as i64;
    let (trained, took) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        (train(&samples), started.elapsed())
    })
    .await
    .map_err(|e| format!("training stopped: {e}"))?;
    let mut dictionary = trained?;
    for _ in 0..5 {
        let id = table
            .next_dictionary_id()
            .await
            .map_err(|e| e.to_string())?;
        let id32 = u32::try_from(id).map_err(|_| format!("no dictionary id after {id}"))?;
        dictionary = with_id(dictionary, id32);
        let stored = table
            .insert_dictionary(id, &dictionary, count)
            .await
            .map_err(|e| e.to_string())?;
        if stored {
            codec
                .install(id, &dictionary, true)
                .map_err(|e| e.to_string())?;
            tracing::info!(
                id,
                samples = count,
                bytes = dictionary.len(),
                ms = took.as_millis() as u64,
                "trained the payload dictionary"
            );
            return Ok(());
        }
    }
    Err("no free dictionary id after 5 tries".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(i: usize) -> EventRecord {
        let v = json!({
            "event_id": format!("E-{i}"), "event_category": "AUTH", "event_type": "USER_LOGIN",
            "event_name": "User login", "action": "LOGIN", "status": "SUCCESS",
            "timestamp": "2026-11-24T10:00:00Z", "severity": "INFO", "importance": "MAJOR",
            "user_agent": format!("Mozilla/5.0 (X11; Linux x86_64) Chrome/{}.0", 100 + i % 30),
            "metadata": {"attempt": i, "method": "password", "mfa": i.is_multiple_of(2)},
            "tags": ["auth", "web"], "processing_time_ms": 12.5 + i as f64,
            "http_status": 200, "http_method": "POST", "request_data": {"remember": true}
        });
        serde_json::from_value(v).expect("a record")
    }

    fn cold_of(r: &EventRecord) -> Cold {
        serde_json::from_slice(&cold_json(r)).expect("cold JSON reads back")
    }

    #[test]
    fn payloads_round_trip_before_and_after_a_dictionary() {
        let codec = PayloadCodec::new();
        codec.start(Vec::new()).unwrap();
        let plain = codec.encode(&record(1));
        assert_eq!(codec.decode(&plain).unwrap(), cold_of(&record(1)));
        assert!(codec.missing(std::iter::once(plain.as_slice())).is_empty());

        for i in 0..TRAIN_SAMPLES {
            codec.encode(&record(i));
        }
        let samples = codec.take_samples().expect("enough samples");
        assert!(
            codec.take_samples().is_none(),
            "samples are handed out once"
        );
        let dictionary = with_id(train(&samples).unwrap(), 7);
        codec.install(7, &dictionary, true).unwrap();

        let packed = codec.encode(&record(5));
        assert!(
            packed.len() < plain.len() / 2,
            "{} vs {}",
            packed.len(),
            plain.len()
        );
        assert_eq!(codec.decode(&packed).unwrap(), cold_of(&record(5)));
        assert_eq!(codec.decode(&plain).unwrap(), cold_of(&record(1)));

        // Another process that has not loaded dictionary 7 asks for it, then reads.
        let other = PayloadCodec::new();
        assert_eq!(
            other.missing([packed.as_slice(), plain.as_slice()].into_iter()),
            [7]
        );
        assert!(other.decode(&packed).is_err());
        other.install(7, &dictionary, false).unwrap();
        assert_eq!(other.decode(&packed).unwrap(), cold_of(&record(5)));
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let codec = PayloadCodec::new();
        let good = codec.encode(&record(3));
        for bad in [
            &b""[..],
            b"{\"event_name\":1}",
            &good[..good.len() - 3],
            &[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff],
        ] {
            assert!(
                matches!(codec.decode(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        let _ = codec.decode(&flipped);
    }

    #[test]
    fn a_dictionary_must_carry_the_id_it_is_stored_under() {
        let codec = PayloadCodec::new();
        let samples: Vec<Vec<u8>> = (0..TRAIN_SAMPLES).map(|i| cold_json(&record(i))).collect();
        let dictionary = with_id(train(&samples).unwrap(), 3);
        assert!(codec.install(4, &dictionary, true).is_err());
        assert!(codec.install(3, &dictionary, true).is_ok());
    }
}
