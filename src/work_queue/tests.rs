use super::*;

#[test]
fn a_work_log_is_read_from_the_envelope() {
    let first = r#"{"kind":"luau-exec/test-results@1","tests":[],"work":{"total":3,"ran":["A.b.spec","A.a.spec"],"claims":3}}"#;
    let log = WorkLog::from_envelope(first).expect("a work log");
    assert_eq!(log.total, 3);
    assert_eq!(log.ran, ["A.b.spec", "A.a.spec"]);
    assert_eq!((log.claims, log.stopped), (3, None));
    // Luau's empty table may come as `{}`; no `work` at all is no log.
    let empty =
        r#"{"kind":"luau-exec/test-results@1","tests":[],"work":{"total":0,"ran":{},"claims":1}}"#;
    assert_eq!(WorkLog::from_envelope(empty).map(|l| l.ran.len()), Some(0));
    assert_eq!(
        WorkLog::from_envelope(r#"{"kind":"luau-exec/test-results@1","tests":[]}"#),
        None
    );
}
