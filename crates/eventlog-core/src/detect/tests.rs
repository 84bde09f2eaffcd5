use serde_json::json;

use super::*;

fn kinds(findings: &[Finding]) -> Vec<AttackKind> {
    findings.iter().map(|f| f.kind).collect()
}

#[test]
fn finds_each_kind_where_it_is() {
    let detector = Detector::default();
    let body = json!({
        "user": {"name": "x' OR '1'='1"},
        "comments": ["fine", "<script>alert(1)</script>"],
        "upload": {"filename": "avatar.jpg.php", "content_type": "image/jpeg"},
    });
    let headers = [
        ("User-Agent", "curl/8.0"),
        ("Referer", "https://x/?a=1;cat /etc/passwd"),
    ];
    let request = RequestView {
        path: "/files/..%2f..%2f..%2fetc%2fpasswd",
        query: Some("q=1%20UNION%20SELECT%20password%20FROM%20users--&host=8.8.8.8%3Bid"),
        headers: &headers,
        body: Body::Json(&body),
    };
    let found = detector.inspect(&request);
    let at = |kind: AttackKind, location: &str| {
        found
            .iter()
            .any(|f| f.kind == kind && f.location == location)
    };
    assert!(at(AttackKind::PathTraversal, "path"), "{found:#?}");
    assert!(at(AttackKind::SqlInjection, "query.q"), "{found:#?}");
    assert!(at(AttackKind::CommandInjection, "query.host"), "{found:#?}");
    assert!(at(AttackKind::SqlInjection, "body.user.name"), "{found:#?}");
    assert!(at(AttackKind::Xss, "body.comments[1]"), "{found:#?}");
    assert!(
        at(AttackKind::MaliciousUpload, "body.upload.filename"),
        "{found:#?}"
    );
    assert!(
        at(AttackKind::CommandInjection, "header.referer.a"),
        "{found:#?}"
    );
}

#[test]
fn benign_requests_yield_nothing() {
    let detector = Detector::default();
    let body = json!({
        "name": "Siobhán O'Brien",
        "note": "Please select the best option from the list and update where needed.",
        "html": "<p>Hello <b>world</b></p>",
        "code": "import x from '../lib'; if (a < b && c > d) { run(); }",
        "id": "Nilai ujian siswa kelas 7A sudah diperbarui oleh guru wali kelas.",
        "file": "laporan-semester.pdf",
    });
    let request = RequestView {
        path: "/api/students/42/grades",
        query: Some("search=Tom+%26+Jerry&page=2&sort=-created_at"),
        headers: &[(
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        )],
        body: Body::Json(&body),
    };
    assert_eq!(detector.inspect(&request), vec![]);
}

#[test]
fn encoded_payloads_are_decoded_first() {
    let detector = Detector::default();
    for (payload, kind) in [
        (
            "%253Cscript%253Ealert(1)%253C%252Fscript%253E",
            AttackKind::Xss,
        ),
        ("&lt;img src=x onerror=alert(1)&gt;", AttackKind::Xss),
        ("\\u003csvg onload=alert(1)\\u003e", AttackKind::Xss),
        ("1%27%20OR%20%271%27%3D%271", AttackKind::SqlInjection),
        (
            "%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
            AttackKind::PathTraversal,
        ),
    ] {
        assert_eq!(
            kinds(&detector.inspect_value("q", payload)),
            vec![kind],
            "{payload}"
        );
    }
}

#[test]
fn excerpts_are_masked_and_bounded() {
    let detector = Detector::default();
    let payload = format!("' OR 1=1-- password=hunter2 {}", "A".repeat(400));
    let body = json!({"q": payload});
    let found = detector.inspect(&RequestView::from_endpoint("/login", Body::Json(&body)));
    let excerpt = &found[0].excerpt;
    assert!(!excerpt.contains("hunter2"), "{excerpt}");
    assert!(excerpt.contains("[REDACTED]"), "{excerpt}");
    assert!(excerpt.chars().count() <= EXCERPT_CHARS + 1, "{excerpt}");
    assert_eq!(found[0].location, "body.q");
}

#[test]
fn uploads_by_name_type_and_header() {
    let detector = Detector::default();
    let form = "file_name=shell.phtml&x=1";
    let found = detector.inspect(&RequestView::from_endpoint("/upload", Body::Form(form)));
    assert_eq!(kinds(&found), vec![AttackKind::MaliciousUpload]);
    let body = json!({"mime_type": "application/x-php"});
    let found = detector.inspect(&RequestView::from_endpoint("/upload", Body::Json(&body)));
    assert_eq!(kinds(&found), vec![AttackKind::MaliciousUpload]);
    let headers = [(
        "Content-Disposition",
        "form-data; name=\"f\"; filename=\"run.exe\"",
    )];
    let request = RequestView {
        path: "/upload",
        query: None,
        headers: &headers,
        body: Body::None,
    };
    assert_eq!(
        kinds(&detector.inspect(&request)),
        vec![AttackKind::MaliciousUpload]
    );
    for fine in ["report.pdf", "photo.jpg", "notes.v2.txt", "data.csv"] {
        assert!(upload::dangerous_file_name(fine).is_none(), "{fine}");
    }
}

#[test]
fn findings_are_capped() {
    let detector = Detector::default();
    let many: Vec<_> = (0..100).map(|_| "<script>alert(1)</script>").collect();
    let body = json!({ "items": many });
    let found = detector.inspect(&RequestView::from_endpoint("/", Body::Json(&body)));
    assert_eq!(found.len(), MAX_FINDINGS);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,30}".prop_map(Value::String),
            "[<>'\"%&;|`$(){}./\\\\a-z0-9 =-]{0,30}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_any_request(
            path in "\\PC{0,60}",
            query in "\\PC{0,60}",
            header in "\\PC{0,60}",
            body in arbitrary_json(),
            text in "\\PC{0,80}",
        ) {
            let detector = Detector::default();
            let headers = [("cookie", header.as_str()), ("user-agent", header.as_str()),
                ("content-disposition", header.as_str())];
            for body in [Body::Json(&body), Body::Form(&text), Body::Text(&text), Body::None] {
                let request = RequestView { path: &path, query: Some(&query), headers: &headers, body };
                let found = detector.inspect(&request);
                prop_assert!(found.len() <= MAX_FINDINGS);
                for f in found {
                    prop_assert!(f.excerpt.chars().count() <= EXCERPT_CHARS + 1);
                }
            }
        }
    }
}

/// Found by `cargo fuzz run detect`: escaped control characters overran the excerpt limit.
#[test]
fn fuzz_crash_control_characters_after_a_pipe() {
    let input = "@\u{1}\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0|\u{e}\0'\0{@n'";
    let detector = Detector::default();
    let found = detector.inspect(&RequestView::from_endpoint(input, Body::Form(input)));
    assert!(!found.is_empty());
    for f in found {
        assert!(
            f.excerpt.chars().count() <= EXCERPT_CHARS + 1,
            "{}",
            f.excerpt
        );
    }
}
