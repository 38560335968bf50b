//! The loader's rules, one input or combination at a time, against an environment map.

use super::*;
use crate::roblox::{MAX_SCRIPT_BYTES, MAX_TASK_TIMEOUT};
use crate::secret::ApiKey;
use std::collections::HashMap;
use std::path::Path;

/// Every refused input of a load from these `INPUT_*` pairs.
fn load_all(pairs: &[(&str, &str)]) -> Result<Plan, ConfigErrors> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let env = move |name: &str| map.get(name).cloned();
    load(&Inputs::new(&RunArgs::default(), &env))
}

/// The first refused input of a load from these `INPUT_*` pairs.
fn load_with(pairs: &[(&str, &str)]) -> Result<Plan, ConfigError> {
    load_all(pairs).map_err(|mut errors| errors.0.remove(0))
}

const BASE: &[(&str, &str)] = &[
    ("INPUT_API-KEY", "k"),
    ("INPUT_UNIVERSE-ID", "1"),
    ("INPUT_PLACE-ID", "2"),
    ("INPUT_SCRIPT", "return 1"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all: Vec<_> = BASE
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    all.extend_from_slice(extra);
    all
}

#[test]
fn reads_hyphenated_and_underscored_names() {
    let config = load_with(BASE).unwrap();
    assert_eq!(config.universe_id, 1);
    assert_eq!(config.place_id, 2);
    let config = load_with(&[
        ("INPUT_API_KEY", "k"),
        ("INPUT_UNIVERSE_ID", "10"),
        ("INPUT_PLACE_ID", "20"),
        ("INPUT_SCRIPT", "return 1"),
    ])
    .unwrap();
    assert_eq!((config.universe_id, config.place_id), (10, 20));
}

#[test]
fn empty_means_not_given() {
    let err = load_with(&with(&[("INPUT_PLACE-ID", "")])).unwrap_err();
    assert_eq!(err.input, "place-id");
    let config = load_with(&with(&[("INPUT_TIMEOUT", ""), ("INPUT_PLACE-VERSION", "")])).unwrap();
    assert_eq!(config.task_timeout, None);
    assert_eq!(config.place_version, None);
    assert_eq!(config.wait_timeout, MAX_TASK_TIMEOUT + WAIT_GRACE);
}

#[test]
fn flags_win_over_environment() {
    let map: HashMap<&str, &str> = BASE.iter().copied().collect();
    let env = move |name: &str| map.get(name).map(|v| (*v).to_owned());
    let args = RunArgs {
        place_id: Some("99".into()),
        ..RunArgs::default()
    };
    let config = load(&Inputs::new(&args, &env)).unwrap();
    assert_eq!(config.place_id, 99);
}

#[test]
fn refuses_bad_ids() {
    for bad in [
        "abc",
        "-1",
        "1.5",
        "12 3",
        "0x10",
        "99999999999999999999999",
    ] {
        let err = load_with(&with(&[("INPUT_UNIVERSE-ID", bad)])).unwrap_err();
        assert_eq!(err.input, "universe-id", "{bad}");
    }
}

#[test]
fn every_bad_input_is_refused_at_once() {
    let names =
        |errors: &ConfigErrors| -> Vec<&'static str> { errors.0.iter().map(|e| e.input).collect() };
    let errors = load_all(&[
        ("INPUT_BACKEND", "local"),
        ("INPUT_SCRIPT", "return 1"),
        ("INPUT_TIMEOUT", "10m"),
        ("INPUT_UNIVERSE_ID", "abc"),
        ("INPUT_OUTPUT_FORMAT", "xml"),
        ("INPUT_BASE_URL", "http://example.com"),
    ])
    .unwrap_err();
    assert_eq!(
        names(&errors),
        ["output-format", "universe-id", "timeout", "base-url"],
        "{errors}"
    );
    // A refused backend does not make the key look required, nor the script missing.
    let errors =
        load_all(&[("INPUT_BACKEND", "locl"), ("INPUT_TEST_FRAMEWORK", "testz")]).unwrap_err();
    assert_eq!(names(&errors), ["backend", "test-framework"], "{errors}");
}

#[test]
fn test_setup_is_an_instance_path_used_only_with_a_framework() {
    let suite = &[
        ("INPUT_BACKEND", "open-cloud"),
        ("INPUT_API-KEY", "k"),
        ("INPUT_UNIVERSE-ID", "1"),
        ("INPUT_PLACE-ID", "2"),
        ("INPUT_TEST_FRAMEWORK", "testez"),
        ("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests"),
    ];
    let setup = |value: &'static str| {
        let mut pairs = suite.to_vec();
        pairs.push(("INPUT_TEST_SETUP", value));
        pairs
    };
    let config = load_with(&setup("ReplicatedStorage.TestSetup")).unwrap();
    let given = config.suite.and_then(|suite| suite.setup);
    assert_eq!(given.as_deref(), Some("ReplicatedStorage.TestSetup"));
    let config = load_with(suite).unwrap();
    assert_eq!(config.suite.and_then(|suite| suite.setup), None);

    let bad = load_with(&setup("ReplicatedStorage..TestSetup")).unwrap_err();
    assert_eq!(bad.input, "test-setup");
    assert_eq!(
        bad.problem,
        "`ReplicatedStorage..TestSetup` is not an instance path like `ReplicatedStorage.Tests`"
    );
    let alone = load_with(&with(&[(
        "INPUT_TEST_SETUP",
        "ReplicatedStorage.TestSetup",
    )]))
    .unwrap_err();
    assert_eq!(alone.input, "test-setup");
    assert!(
        alone
            .problem
            .starts_with("is used only with `test-framework`")
    );
}

#[test]
fn the_missing_key_is_explained_where_the_user_sets_it() {
    let github =
        load_with(&with(&[("INPUT_API-KEY", ""), ("GITHUB_ACTIONS", "true")])).unwrap_err();
    assert!(
        github
            .describe(true)
            .starts_with("input `api-key`: is required")
    );
    assert!(github.problem.contains("secrets.*"), "{github}");
    let elsewhere = load_with(&with(&[("INPUT_API-KEY", "")])).unwrap_err();
    let line = elsewhere.describe(false);
    assert!(line.starts_with("`INPUT_API_KEY`: is required"), "{line}");
    assert!(!line.contains("secrets"), "{line}");
    assert!(line.contains("--backend local"), "{line}");
}

#[test]
fn missing_key_is_named_and_never_echoed() {
    let err = load_with(&with(&[("INPUT_API-KEY", "")])).unwrap_err();
    assert_eq!(err.input, "api-key");
    let config = load_with(&with(&[
        ("INPUT_API-KEY", ""),
        ("INPUT_ON-MISSING-KEY", "skip"),
    ]))
    .unwrap();
    match config.target {
        Target::Skipped { why } => assert!(why.contains("was skipped"), "{why}"),
        other => panic!("a run without a key is skipped, not {other:?}"),
    }
    let config = load_with(&with(&[("INPUT_API-KEY", "  secret-key\n")])).unwrap();
    match config.target {
        Target::OpenCloud { key, base_url } => {
            assert_eq!(key.expose(), "secret-key");
            assert_eq!(base_url.as_str(), "https://apis.roblox.com/");
        }
        other => panic!("a key means Open Cloud, not {other:?}"),
    }
}

#[test]
fn script_rules() {
    let err = load_with(&with(&[("INPUT_SCRIPT-PATH", "x.luau")])).unwrap_err();
    assert!(err.problem.contains("not both"), "{err}");
    let err = load_with(&with(&[("INPUT_SCRIPT", "")])).unwrap_err();
    assert_eq!(err.input, "script");
    let err = load_with(&with(&[
        ("INPUT_SCRIPT", ""),
        ("INPUT_SCRIPT-PATH", "/nonexistent/x.luau"),
    ]))
    .unwrap_err();
    assert_eq!(err.input, "script-path");
    // Inline scripts are sent verbatim, leading and trailing whitespace included.
    let config = load_with(&with(&[("INPUT_SCRIPT", "  print(1)\n")])).unwrap();
    assert_eq!(config.units[0].script, "  print(1)\n");
}

#[test]
fn script_file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.luau");
    std::fs::write(&empty, "").unwrap();
    let big = dir.path().join("big.luau");
    std::fs::write(&big, vec![b'-'; MAX_SCRIPT_BYTES as usize + 1]).unwrap();
    let good = dir.path().join("good.luau");
    std::fs::write(&good, "return 42\n").unwrap();
    for (path, expected) in [
        (&empty, "empty"),
        (&big, "limit"),
        (&dir.path().to_path_buf(), "not a file"),
    ] {
        let path = path.to_str().unwrap().to_owned();
        let map: HashMap<String, String> = [
            ("INPUT_API-KEY", "k"),
            ("INPUT_UNIVERSE-ID", "1"),
            ("INPUT_PLACE-ID", "2"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("INPUT_SCRIPT-PATH".to_owned(), path)])
        .collect();
        let env = move |name: &str| map.get(name).cloned();
        let err = load(&Inputs::new(&RunArgs::default(), &env))
            .unwrap_err()
            .0
            .remove(0);
        assert_eq!(err.input, "script-path");
        assert!(err.problem.contains(expected), "{err}");
    }
    let args = RunArgs {
        script_path: Some(good.to_str().unwrap().to_owned()),
        ..RunArgs::default()
    };
    let env = |name: &str| match name {
        "INPUT_API-KEY" => Some("k".to_owned()),
        "INPUT_UNIVERSE-ID" | "INPUT_PLACE-ID" => Some("3".to_owned()),
        _ => None,
    };
    assert_eq!(
        load(&Inputs::new(&args, &env)).unwrap().units[0].script,
        "return 42\n"
    );
}

#[test]
fn a_byte_order_mark_is_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.luau");
    std::fs::write(&file, "\u{feff}return 1\n").unwrap();
    let args = RunArgs {
        script_path: Some(file.to_str().unwrap().to_owned()),
        ..RunArgs::default()
    };
    let env = |name: &str| match name {
        "INPUT_BACKEND" => Some("local".to_owned()),
        _ => None,
    };
    assert_eq!(
        load(&Inputs::new(&args, &env)).unwrap().units[0].script,
        "return 1\n"
    );
}

#[test]
fn binary_output_must_be_writable_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let fine = dir.path().join("new/dir/out.bin");
    let args = RunArgs {
        binary_output: Some(fine.to_str().unwrap().to_owned()),
        ..RunArgs::default()
    };
    let env = |name: &str| match name {
        "INPUT_BACKEND" => Some("local".to_owned()),
        "INPUT_SCRIPT" => Some("return 1".to_owned()),
        _ => None,
    };
    let config = load(&Inputs::new(&args, &env)).unwrap();
    assert_eq!(config.binary_output.as_deref(), Some(fine.as_path()));
    assert!(!fine.exists(), "the check leaves no file behind");
    // Under a regular file, no folder can be made.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let args = RunArgs {
        binary_output: Some(blocker.join("out.bin").to_str().unwrap().to_owned()),
        ..RunArgs::default()
    };
    let err = load(&Inputs::new(&args, &env)).unwrap_err().0.remove(0);
    assert_eq!(err.input, "binary-output");
}

#[test]
fn a_step_runs_at_most_a_thousand_script_files() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..MAX_SCRIPT_FILES {
        std::fs::write(dir.path().join(format!("s{i:04}.luau")), "return 1\n").unwrap();
    }
    let glob = dir.path().join("*.luau").to_str().unwrap().to_owned();
    let load_glob = |glob: &str| {
        let args = RunArgs {
            script_path: Some(glob.to_owned()),
            ..RunArgs::default()
        };
        let env = |name: &str| (name == "INPUT_BACKEND").then(|| "local".to_owned());
        load(&Inputs::new(&args, &env))
    };
    assert_eq!(load_glob(&glob).unwrap().units.len(), MAX_SCRIPT_FILES);
    std::fs::write(dir.path().join("one-more.luau"), "return 1\n").unwrap();
    let errors = load_glob(&glob).unwrap_err();
    let err = errors.first().expect("a refused input");
    assert_eq!(err.input, "script-path");
    assert!(err.problem.contains("more than 1000 files"), "{err}");
    // Entries count together: a thousand from a glob and one named file are too many.
    let both = format!(
        "{}, {}",
        dir.path().join("s*.luau").display(),
        dir.path().join("one-more.luau").display()
    );
    let errors = load_glob(&both).unwrap_err();
    assert_eq!(errors.first().map(|e| e.input), Some("script-path"));
}

#[test]
fn sourcemap_files_are_kept_inside_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("sourcemap.json");
    std::fs::write(
        &map,
        r#"{ "name": "Pkg", "className": "ModuleScript", "filePaths": ["src/init.luau"] }"#,
    )
    .unwrap();
    let with_workspace = |workspace: &Path| {
        let args = RunArgs {
            sourcemap: Some(map.to_str().unwrap().to_owned()),
            ..RunArgs::default()
        };
        let workspace = workspace.to_str().unwrap().to_owned();
        let env = move |name: &str| match name {
            "INPUT_BACKEND" => Some("local".to_owned()),
            "INPUT_SCRIPT" => Some("return 1".to_owned()),
            "GITHUB_WORKSPACE" => Some(workspace.clone()),
            _ => None,
        };
        load(&Inputs::new(&args, &env)).unwrap().locator
    };
    let found = with_workspace(dir.path()).resolve("Pkg:2").unwrap();
    assert_eq!(found.path, "src/init.luau");
    assert_eq!(
        with_workspace(&dir.path().join("elsewhere")).resolve("Pkg:2"),
        None
    );
}

/// A load with a sourcemap of one module (`src/Calc.luau`) and one spec, in a workspace.
fn load_coverage_inputs(extra: &[(&str, &str)]) -> Result<Plan, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("sourcemap.json");
    std::fs::write(
        &map,
        r#"{ "name": "game", "className": "DataModel", "children": [
            { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
              { "name": "Calc", "className": "ModuleScript", "filePaths": ["src/Calc.luau"] },
              { "name": "Calc.spec", "className": "ModuleScript", "filePaths": ["src/Calc.spec.luau"] } ] } ] }"#,
    )
    .unwrap();
    let (map, workspace) = (map.to_str().unwrap(), dir.path().to_str().unwrap());
    let mut pairs = vec![
        ("INPUT_API-KEY", "k"),
        ("INPUT_UNIVERSE-ID", "1"),
        ("INPUT_PLACE-ID", "2"),
        ("INPUT_SOURCEMAP", map),
        ("GITHUB_WORKSPACE", workspace),
    ];
    pairs.extend_from_slice(extra);
    load_with(&pairs)
}

#[test]
fn coverage_inputs_are_checked_and_tell_the_bootstrap_what_to_measure() {
    let suite = [
        ("INPUT_TEST-FRAMEWORK", "testez"),
        ("INPUT_TEST-ROOTS", "ReplicatedStorage.Tests"),
        ("INPUT_COVERAGE-THRESHOLD", "80%"),
    ];
    let config = load_coverage_inputs(&suite).unwrap();
    let spec = config.coverage.as_ref().expect("coverage asked for");
    assert_eq!(spec.threshold, Some(80.0));
    // Only the module that counts is measured: not its spec.
    assert!(
        config.units[0]
            .script
            .contains(r#"coverage = { "ReplicatedStorage.Calc" },"#),
        "{}",
        config.units[0].script
    );
    let script = [("INPUT_SCRIPT", "return 1")];
    assert!(load_coverage_inputs(&script).unwrap().coverage.is_none());
    let threshold = |value: &'static str| {
        load_coverage_inputs(&[
            ("INPUT_SCRIPT", "return 1"),
            ("INPUT_COVERAGE-THRESHOLD", value),
        ])
    };
    assert_eq!(
        threshold("72.5").unwrap().coverage.unwrap().threshold,
        Some(72.5)
    );
    for bad in ["101", "-1", "abc", "80%%", "NaN"] {
        let error = threshold(bad).unwrap_err();
        assert_eq!(error.input, "coverage-threshold", "{bad}");
        assert!(
            error.problem.contains("is not a percentage from 0 to 100"),
            "{bad}"
        );
    }
    for (input, value, problem) in [
        ("INPUT_COVERAGE-INCLUDE", "src/[", "is not a valid glob"),
        (
            "INPUT_COVERAGE-INCLUDE",
            "lib/**",
            "no module of the sourcemap counts for coverage",
        ),
        (
            "INPUT_COVERAGE-EXCLUDE",
            "src/*.luau",
            "no module of the sourcemap counts for coverage",
        ),
    ] {
        let error =
            load_coverage_inputs(&[("INPUT_SCRIPT", "return 1"), (input, value)]).unwrap_err();
        assert!(error.problem.contains(problem), "{value}: {error}");
    }
    let error = load_with(&with(&[("INPUT_COVERAGE-LCOV", "lcov.info")])).unwrap_err();
    assert_eq!(error.input, "coverage-lcov");
    assert!(error.problem.starts_with("needs `sourcemap`"), "{error}");
}

#[test]
fn timeouts() {
    let config = load_with(&with(&[("INPUT_TIMEOUT", "1m30s")])).unwrap();
    assert_eq!(config.task_timeout, Some(Duration::from_secs(90)));
    assert_eq!(config.wait_timeout, Duration::from_secs(90) + WAIT_GRACE);
    for bad in ["0", "301", "6m", "abc", "1.5s"] {
        let err = load_with(&with(&[("INPUT_TIMEOUT", bad)])).unwrap_err();
        assert_eq!(err.input, "timeout", "{bad}");
    }
    let config = load_with(&with(&[("INPUT_WAIT-TIMEOUT", "2h")])).unwrap();
    assert_eq!(config.wait_timeout, Duration::from_secs(7200));
    let err = load_with(&with(&[("INPUT_WAIT-TIMEOUT", "0s")])).unwrap_err();
    assert_eq!(err.input, "wait-timeout");
}

#[test]
fn base_url_rules() {
    for good in [
        "https://apis.roblox.com",
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
    ] {
        assert!(
            load_with(&with(&[("INPUT_BASE-URL", good)])).is_ok(),
            "{good}"
        );
    }
    for bad in [
        "http://example.com",
        "http://10.0.0.1",
        "ftp://x",
        "not a url",
        "https://u:p@h.com",
        "https://h.com/?a=1",
    ] {
        let err = load_with(&with(&[("INPUT_BASE-URL", bad)])).unwrap_err();
        assert_eq!(err.input, "base-url", "{bad}");
    }
}

#[test]
fn local_backend_needs_no_key_or_ids() {
    let config = load_with(&[("INPUT_BACKEND", "local"), ("INPUT_SCRIPT", "return 1")]).unwrap();
    assert!(matches!(config.target, Target::Local { given_key: None }));
    // A key given anyway is kept, to be hidden from everything printed.
    let config = load_with(&[
        ("INPUT_BACKEND", "local"),
        ("INPUT_SCRIPT", "return 1"),
        ("INPUT_API-KEY", "a-key-that-is-long-enough"),
    ])
    .unwrap();
    assert_eq!(
        config.target.secret().map(ApiKey::expose),
        Some("a-key-that-is-long-enough")
    );
    let err = load_with(&with(&[("INPUT_BACKEND", "cloud")])).unwrap_err();
    assert_eq!(err.input, "backend");
}

#[test]
fn output_format_detection() {
    assert_eq!(load_with(BASE).unwrap().output_format, OutputFormat::Plain);
    let gh = with(&[("GITHUB_ACTIONS", "true")]);
    assert_eq!(load_with(&gh).unwrap().output_format, OutputFormat::Github);
    let forced = with(&[("GITHUB_ACTIONS", "true"), ("INPUT_OUTPUT-FORMAT", "json")]);
    assert_eq!(
        load_with(&forced).unwrap().output_format,
        OutputFormat::Json
    );
    assert!(!load_with(&with(&[("NO_COLOR", "1")])).unwrap().color);
}

#[test]
fn place_file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rbxl = dir.path().join("game.rbxl");
    std::fs::write(&rbxl, b"<roblox!").unwrap();
    let txt = dir.path().join("game.txt");
    std::fs::write(&txt, b"x").unwrap();
    let (rbxl_str, txt_str) = (rbxl.to_str().unwrap(), txt.to_str().unwrap());
    let config = load_with(&with(&[("INPUT_PLACE-FILE", rbxl_str)])).unwrap();
    assert_eq!(
        config.place_file.unwrap().content_type,
        "application/octet-stream"
    );
    let err = load_with(&with(&[("INPUT_PLACE-FILE", txt_str)])).unwrap_err();
    assert_eq!(err.input, "place-file");
    let err = load_with(&with(&[
        ("INPUT_PLACE-FILE", rbxl_str),
        ("INPUT_PLACE-VERSION", "3"),
    ]))
    .unwrap_err();
    assert!(err.problem.contains("conflicts"), "{err}");
}

#[test]
fn shards_auto_and_the_default_are_one_per_core_for_a_local_testez_suite() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let dir = tempfile::tempdir().unwrap();
    let rbxl = dir.path().join("game.rbxl");
    std::fs::write(&rbxl, b"<roblox!").unwrap();
    let rbxl = rbxl.to_str().unwrap();
    let suite = [
        ("INPUT_PLACE-FILE", rbxl),
        ("INPUT_BACKEND", "local"),
        ("INPUT_TEST-FRAMEWORK", "testez"),
        ("INPUT_TEST-ROOTS", "ReplicatedStorage.Tests"),
    ];
    let units = |extra: &[(&str, &str)]| {
        let mut pairs = suite.to_vec();
        pairs.push(("INPUT_SHARDS", "auto"));
        pairs.extend_from_slice(extra);
        load_with(&pairs).map(|config| config.units.len())
    };
    assert_eq!(units(&[]).unwrap(), cores.min(MAX_SHARDS));
    // A `parallel` given wins (how many run at once).
    assert_eq!(units(&[("INPUT_PARALLEL", "1")]).unwrap(), 1);
    assert_eq!(units(&[("INPUT_PARALLEL", "auto")]).unwrap(), 1);
    let asked = load_with(&[suite.as_slice(), &[("INPUT_SHARDS", "auto")]].concat()).unwrap();
    let labelled = if cores > 1 {
        Presentation::Labelled
    } else {
        Presentation::OneTask
    };
    assert_eq!(asked.presentation, labelled);
    // No `shards`: split as `auto` would, shown as one run; `shards: 1` is one task.
    let default = load_with(&suite).unwrap();
    assert_eq!(default.units.len(), cores.min(MAX_SHARDS));
    let whole = if cores > 1 {
        Presentation::Whole
    } else {
        Presentation::OneTask
    };
    assert_eq!(default.presentation, whole);
    let one = load_with(&[suite.as_slice(), &[("INPUT_SHARDS", "1")]].concat()).unwrap();
    assert_eq!(
        (one.units.len(), one.presentation),
        (1, Presentation::OneTask)
    );
    let given = load_with(&[suite.as_slice(), &[("INPUT_PARALLEL", "2")]].concat()).unwrap();
    assert_eq!(given.units.len(), 1, "a `parallel` given keeps one task");
    // On Open Cloud each task is a server: one unless told.
    let cloud = load_with(&with(&[
        ("INPUT_SCRIPT", ""),
        ("INPUT_SHARDS", "auto"),
        ("INPUT_TEST-FRAMEWORK", "testez"),
        ("INPUT_TEST-ROOTS", "ReplicatedStorage.Tests"),
    ]))
    .unwrap();
    assert_eq!(cloud.units.len(), 1);
}

/// A step of one runs its task as the step's own (unlabelled); several files are a task each,
/// labelled by path, and each task's `TaskScript:N` points at its own file.
#[test]
fn each_unit_is_a_task_spec_with_its_own_script_and_locator() {
    let own = load_with(BASE).unwrap();
    assert_eq!(own.units.len(), 1);
    assert_eq!(
        (own.units[0].label.as_deref(), own.units[0].name()),
        (None, "")
    );
    assert_eq!(own.units[0].script, "return 1");
    assert_eq!(own.presentation, Presentation::OneTask);

    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("a.luau", "return 'a'\n"), ("b.luau", "return 'b'\n")] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let glob = dir.path().join("*.luau");
    let config = load_with(&with(&[
        ("INPUT_SCRIPT", ""),
        ("INPUT_SCRIPT-PATH", glob.to_str().unwrap()),
    ]))
    .unwrap();
    let names: Vec<String> = ["a.luau", "b.luau"]
        .iter()
        .map(|name| dir.path().join(name).display().to_string())
        .collect();
    let labels: Vec<&str> = config.units.iter().map(|u| u.name()).collect();
    assert_eq!(labels, names);
    assert_eq!(config.presentation, Presentation::Labelled);
    assert_eq!(config.units[1].script, "return 'b'\n");
    let located: Vec<Option<String>> = config
        .units
        .iter()
        .map(|u| u.locator.resolve("TaskScript:1").map(|at| at.path))
        .collect();
    let expected: Vec<Option<String>> = names.iter().map(|n| Some(n.replace('\\', "/"))).collect();
    assert_eq!(located, expected);
}
