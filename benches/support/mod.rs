//! What the benchmarks share: TestEZ from the npm registry, places built as Rojo would build
//! them, and the emulator's request counts.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rbx_dom_weak::types::{Ref, Variant};
use rbx_dom_weak::{InstanceBuilder, WeakDom};
use serde_json::Value;

/// TestEZ's `src` folder, fetched once with `npm pack` into the target folder (never kept in
/// the repository).
pub fn testez_source() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-testez");
    let src = cache.join("package/src");
    if !src.join("init.lua").exists() {
        std::fs::create_dir_all(&cache).unwrap();
        let packed = std::process::Command::new("npm")
            .args(["pack", "@rbxts/testez@0.4.2-ts.0", "--silent"])
            .current_dir(&cache)
            .output()
            .expect("npm");
        assert!(packed.status.success());
        let tarball = String::from_utf8_lossy(&packed.stdout)
            .trim()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        assert!(
            std::process::Command::new("tar")
                .args(["xzf", &tarball])
                .current_dir(&cache)
                .status()
                .unwrap()
                .success()
        );
    }
    src
}

pub fn module(name: &str, source: String) -> InstanceBuilder {
    InstanceBuilder::new("ModuleScript")
        .with_name(name)
        .with_property("Source", Variant::String(source))
}

/// A folder of Lua files as Rojo maps it (`init.lua` makes the folder a ModuleScript).
pub fn from_folder(name: &str, dir: &Path) -> InstanceBuilder {
    let init = dir.join("init.lua");
    let mut node = if init.exists() {
        module(name, std::fs::read_to_string(&init).unwrap())
    } else {
        InstanceBuilder::new("Folder").with_name(name)
    };
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            node.add_child(from_folder(&file, &path));
        } else if let Some(stem) = file.strip_suffix(".lua").filter(|s| *s != "init") {
            node.add_child(module(stem, std::fs::read_to_string(&path).unwrap()));
        }
    }
    node
}

/// The emulator's request counts (`GET /emulator/stats`).
pub async fn stats(base: &str, key: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/emulator/stats"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A place as `.rbxl` bytes: TestEZ and `tests` under ReplicatedStorage, and a Workspace.
pub fn place_with_testez(tests: InstanceBuilder) -> Vec<u8> {
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    let storage = dom.insert(
        root,
        InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    dom.insert(storage, from_folder("TestEZ", &testez_source()));
    dom.insert(storage, tests);
    dom.insert(
        root,
        InstanceBuilder::new("Workspace").with_name("Workspace"),
    );
    let services: Vec<Ref> = dom.root().children().to_vec();
    let mut bytes = Vec::new();
    rbx_binary::to_writer(&mut bytes, &dom, &services).unwrap();
    bytes
}
