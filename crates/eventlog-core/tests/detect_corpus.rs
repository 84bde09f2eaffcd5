//! Detection and false-positive rates of the attack detection engine over the corpus in
//! `tests/corpus/` (attack payloads by category; benign real-world text). Run with
//! `--nocapture` to see the table that `bench/README.md` quotes.

use eventlog_core::detect::{AttackKind, Body, Detector, RequestView};
use serde_json::json;

const ATTACKS: &[(&str, AttackKind, &str)] = &[
    (
        "sqli",
        AttackKind::SqlInjection,
        include_str!("corpus/attacks/sqli.txt"),
    ),
    (
        "xss",
        AttackKind::Xss,
        include_str!("corpus/attacks/xss.txt"),
    ),
    (
        "traversal",
        AttackKind::PathTraversal,
        include_str!("corpus/attacks/traversal.txt"),
    ),
    (
        "cmdi",
        AttackKind::CommandInjection,
        include_str!("corpus/attacks/cmdi.txt"),
    ),
    (
        "upload",
        AttackKind::MaliciousUpload,
        include_str!("corpus/attacks/upload.txt"),
    ),
];

const BENIGN: &[(&str, &str)] = &[
    ("names", include_str!("corpus/benign/names.txt")),
    ("prose", include_str!("corpus/benign/prose.txt")),
    ("code", include_str!("corpus/benign/code.txt")),
    ("html", include_str!("corpus/benign/html.txt")),
    ("indonesian", include_str!("corpus/benign/indonesian.txt")),
    ("misc", include_str!("corpus/benign/misc.txt")),
    ("heldout", include_str!("corpus/benign/heldout.txt")),
];

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim().is_empty())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The kinds found when `value` is sent the ways a client sends it: as a JSON body value
/// (under `key`), as a query value, and double percent-encoded in the query.
fn placements(detector: &Detector, key: &str, value: &str) -> Vec<Vec<AttackKind>> {
    let body = json!({ key: value });
    let once = format!("{key}={}", percent_encode(value));
    let twice = format!("{key}={}", percent_encode(&percent_encode(value)));
    let kinds = |request: RequestView<'_>| {
        detector
            .inspect(&request)
            .into_iter()
            .map(|f| f.kind)
            .collect::<Vec<_>>()
    };
    vec![
        kinds(RequestView::from_endpoint("/api/x", Body::Json(&body))),
        kinds(RequestView {
            path: "/api/x",
            query: Some(&once),
            headers: &[],
            body: Body::None,
        }),
        kinds(RequestView {
            path: "/api/x",
            query: Some(&twice),
            headers: &[],
            body: Body::None,
        }),
    ]
}

#[test]
fn detection_and_false_positive_rates_meet_the_goal() {
    let detector = Detector::default();
    println!("| corpus | samples (x3 placements) | detected | rate |");
    println!("|---|---|---|---|");
    let (mut all_hits, mut all_total) = (0usize, 0usize);
    let mut missed = Vec::new();
    for (name, kind, text) in ATTACKS {
        let key = if *kind == AttackKind::MaliciousUpload {
            "filename"
        } else {
            "q"
        };
        let (mut hits, mut total) = (0, 0);
        for line in lines(text) {
            for found in placements(&detector, key, line) {
                total += 1;
                if found.contains(kind) {
                    hits += 1;
                } else {
                    missed.push(format!("{name}: {line}"));
                }
            }
        }
        println!(
            "| attacks/{name} | {} | {hits} | {:.1}% |",
            total / 3,
            100.0 * hits as f64 / total as f64
        );
        all_hits += hits;
        all_total += total;
    }
    let detection = all_hits as f64 / all_total as f64;
    println!(
        "| **all attacks** | {} | {all_hits} | **{:.1}%** |",
        all_total / 3,
        100.0 * detection
    );

    let (mut flagged, mut benign_total) = (0usize, 0usize);
    let mut false_positives = Vec::new();
    println!("\n| benign corpus | samples (x3 placements) | flagged | false positive rate |");
    println!("|---|---|---|---|");
    for (name, text) in BENIGN {
        let (mut bad, mut total) = (0, 0);
        for line in lines(text) {
            for found in placements(&detector, "q", line) {
                total += 1;
                if !found.is_empty() {
                    bad += 1;
                    false_positives.push(format!("{name}: {line} -> {found:?}"));
                }
            }
        }
        println!(
            "| benign/{name} | {} | {bad} | {:.2}% |",
            total / 3,
            100.0 * bad as f64 / total as f64
        );
        flagged += bad;
        benign_total += total;
    }
    let fp_rate = flagged as f64 / benign_total as f64;
    println!(
        "| **all benign** | {} | {flagged} | **{:.2}%** |",
        benign_total / 3,
        100.0 * fp_rate
    );
    println!("\nmissed:\n{}", missed.join("\n"));
    println!("\nfalse positives:\n{}", false_positives.join("\n"));
    assert!(
        detection >= 0.95,
        "detection rate {detection:.3} is below 95%"
    );
    assert!(
        fp_rate <= 0.01,
        "false positive rate {fp_rate:.4} is above 1%"
    );
}

/// The same corpus through bare libinjection (no decoding, no refinements), for the
/// evaluation in bench/README.md: what the wrapper adds.
#[test]
fn bare_libinjection_for_comparison() {
    let raw = |value: &str, kind: AttackKind| match kind {
        AttackKind::SqlInjection => libinjectionrs::detect_sqli(value.as_bytes()).is_injection(),
        AttackKind::Xss => libinjectionrs::detect_xss(value.as_bytes()).is_injection(),
        _ => false,
    };
    println!("| bare libinjection | samples (raw, %-encoded, double) | detected | rate |");
    println!("|---|---|---|---|");
    for (name, kind, text) in &ATTACKS[..2] {
        let (mut hits, mut total) = (0, 0);
        for line in lines(text) {
            for form in [
                line.to_owned(),
                percent_encode(line),
                percent_encode(&percent_encode(line)),
            ] {
                total += 1;
                hits += usize::from(raw(&form, *kind));
            }
        }
        println!(
            "| attacks/{name} | {} | {hits} | {:.1}% |",
            total / 3,
            100.0 * hits as f64 / total as f64
        );
    }
    let (mut flagged, mut total) = (0, 0);
    for (_, text) in BENIGN {
        for line in lines(text) {
            total += 1;
            flagged +=
                usize::from(raw(line, AttackKind::SqlInjection) || raw(line, AttackKind::Xss));
        }
    }
    println!(
        "| benign (all, raw) | {total} | {flagged} | {:.2}% |",
        100.0 * flagged as f64 / total as f64
    );
}
