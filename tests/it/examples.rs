//! The examples a newcomer runs from the README, run as written: `examples/testez-project` is
//! built from its own Rojo project file (read here the way `rojo build` reads it, for the
//! `$className` and `$path` entries the example uses, so CI needs no Rojo) with TestEZ from npm
//! in `Packages/`, then run offline with the README's flags.

use std::path::Path;

use rbx_dom_weak::types::Ref;
use rbx_dom_weak::{InstanceBuilder, WeakDom};
use serde_json::Value;

use crate::places::{from_folder, testez_source};
use crate::support::{Outcome, Run};

const PROJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/testez-project");

/// One node of a Rojo project tree: its `$path` (mapped as Rojo maps folders and files, with
/// `Packages/TestEZ` standing for the npm package the README fetches there) or `$className`,
/// and its other keys as children.
fn project_node(name: &str, node: &Value) -> InstanceBuilder {
    let mut built = match node.get("$path").and_then(Value::as_str) {
        Some("Packages/TestEZ") => from_folder(name, &testez_source()),
        Some(path) => from_folder(name, &Path::new(PROJECT).join(path)),
        None => {
            let class = node["$className"].as_str().expect("a $className or $path");
            InstanceBuilder::new(class).with_name(name)
        }
    };
    for (child, value) in node.as_object().expect("a project node") {
        if !child.starts_with('$') {
            built.add_child(project_node(child, value));
        }
    }
    built
}

fn build_example_place() -> Vec<u8> {
    let project: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(PROJECT).join("default.project.json"))
            .expect("the example's project file"),
    )
    .expect("a JSON project file");
    let tree = &project["tree"];
    assert_eq!(tree["$className"], "DataModel");
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    for (service, node) in tree.as_object().unwrap() {
        if !service.starts_with('$') {
            dom.insert(root, project_node(service, node));
        }
    }
    let services: Vec<Ref> = dom.root().children().to_vec();
    let mut bytes = Vec::new();
    rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
    bytes
}

#[tokio::test]
async fn the_example_testez_project_passes_offline_with_the_readmes_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build.rbxl"), build_example_place()).unwrap();
    // The flags as the README gives them (`--place-file build.rbxl --test-framework testez …`).
    let mut run = Run::bare();
    run.dir(dir.path());
    for arg in [
        "--backend",
        "local",
        "--place-file",
        "build.rbxl",
        "--test-framework",
        "testez",
        "--test-roots",
        "ReplicatedStorage.Tests",
        "--framework-path",
        "ReplicatedStorage.Packages.TestEZ",
    ] {
        run.arg(arg);
    }
    let output = run.expect().await;
    output
        .code(Outcome::Complete)
        .stdout_has("9 passed, 0 failed, 0 skipped");
}
