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
    get_json(&format!("{base}/emulator/stats"), key).await
}

/// A GET of the emulator's, with the key, read as JSON.
pub async fn get_json(url: &str, key: &str) -> Value {
    reqwest::Client::new()
        .get(url)
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

/// The counts a generated suite must report, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

/// A suite shaped like users' (what real libraries' spec modules look like): `specs` spec modules
/// in folders of 100, each one `describe` with a `beforeEach`, five `it` blocks that build and
/// check tables and strings through a shared helper module every spec requires, an `itSKIP`
/// in every tenth module and a failing expectation in every fiftieth. Returns the `Tests`
/// folder and the counts TestEZ must report for it.
pub fn real_shaped_suite(specs: usize) -> (InstanceBuilder, Counts) {
    let mut tests = InstanceBuilder::new("Folder").with_name("Tests");
    tests.add_child(
        InstanceBuilder::new("Folder")
            .with_name("Shared")
            .with_child(module("helper", HELPER.to_owned())),
    );
    let mut counts = Counts {
        passed: 0,
        failed: 0,
        skipped: 0,
    };
    let modules = (0..specs).map(|spec| {
        let skips = spec % 10 == 9;
        let fails = spec % 50 == 49;
        counts.passed += 5 - usize::from(skips) - usize::from(fails);
        counts.skipped += usize::from(skips);
        counts.failed += usize::from(fails);
        module(
            &format!("feature{spec}.spec"),
            spec_source(spec, skips, fails),
        )
    });
    add_in_groups_of_100(&mut tests, modules);
    (tests, counts)
}

/// Adds `modules` to `tests` in folders of 100 (`group0`, `group1`, …), as suites split theirs.
fn add_in_groups_of_100(
    tests: &mut InstanceBuilder,
    modules: impl Iterator<Item = InstanceBuilder>,
) {
    let mut folder = InstanceBuilder::new("Folder").with_name("group0");
    for (index, module) in modules.enumerate() {
        if index > 0 && index % 100 == 0 {
            tests.add_child(folder);
            folder = InstanceBuilder::new("Folder").with_name(format!("group{}", index / 100));
        }
        folder.add_child(module);
    }
    tests.add_child(folder);
}

/// A suite of instance-heavy tests (what UI and component libraries' spec modules do): `specs`
/// spec modules in folders of 100, each one `describe` whose five `it` blocks build a small
/// tree of instances, rename and reparent them, look them up and tear them down. No spec
/// listens to a signal, as Lune's instances have none. Every test passes.
pub fn instance_heavy_suite(specs: usize) -> (InstanceBuilder, Counts) {
    let mut tests = InstanceBuilder::new("Folder").with_name("Tests");
    add_in_groups_of_100(
        &mut tests,
        (0..specs).map(|spec| module(&format!("widget{spec}.spec"), instance_spec_source(spec))),
    );
    let counts = Counts {
        passed: specs * 5,
        failed: 0,
        skipped: 0,
    };
    (tests, counts)
}

/// One instance-heavy spec module: five tests over a tree of eight children.
fn instance_spec_source(spec: usize) -> String {
    format!(
        r#"local function build(name)
	local root = Instance.new("Folder")
	root.Name = name
	for i = 1, 8 do
		local child = Instance.new("StringValue")
		child.Name = "item" .. i
		child.Value = name .. ":" .. i
		child.Parent = root
	end
	return root
end

return function()
	describe("widget {spec}", function()
		it("builds its children", function()
			local root = build("widget{spec}")
			expect(#root:GetChildren()).to.equal(8)
			root:Destroy()
		end)
		it("finds a child by name", function()
			local root = build("find{spec}")
			expect(root:FindFirstChild("item5").Value).to.equal("find{spec}:5")
			expect(root:FindFirstChild("missing")).never.to.be.ok()
			root:Destroy()
		end)
		it("moves children between parents", function()
			local from, to = build("from"), build("to")
			for _, child in from:GetChildren() do
				child.Parent = to
			end
			expect(#from:GetChildren()).to.equal(0)
			expect(#to:GetChildren()).to.equal(16)
			from:Destroy()
			to:Destroy()
		end)
		it("renames what it holds", function()
			local root = build("rename{spec}")
			for i, child in root:GetChildren() do
				child.Name = "renamed" .. i
			end
			expect(root:FindFirstChild("renamed3")).to.be.ok()
			expect(root:FindFirstChild("item3")).never.to.be.ok()
			root:Destroy()
		end)
		it("clones a subtree", function()
			local root = build("clone{spec}")
			local copy = root:Clone()
			copy.Name = "copy"
			expect(#copy:GetChildren()).to.equal(8)
			expect(copy:FindFirstChild("item8").Value).to.equal("clone{spec}:8")
			root:Destroy()
			copy:Destroy()
		end)
	end)
end
"#
    )
}

const HELPER: &str = r#"local helper = {}

function helper.inventory(size)
	local items = {}
	for i = 1, size do
		items[i] = { id = i, name = "item" .. i, tags = { "a", "b" } }
	end
	return items
end

function helper.total(items)
	local sum = 0
	for _, item in items do
		sum += item.id
	end
	return sum
end

function helper.describe(item)
	return string.format("%s (%d): %s", item.name, item.id, table.concat(item.tags, ","))
end

return helper
"#;

/// One spec module: five tests, the fourth skipped and the fifth failing when asked.
fn spec_source(spec: usize, skips: bool, fails: bool) -> String {
    let first = spec % 10 + 1;
    let fourth = if skips {
        r#"		itSKIP("waits for a later release", function()
			expect(true).to.equal(false)
		end)
"#
    } else {
        r#"		it("refuses bad input", function()
			expect(function()
				error("bad input")
			end).to.throw("bad input")
		end)
"#
    };
    let fifth = if fails {
        r#"		it("keeps its promise", function()
			expect(helper.total(items)).to.equal(-1)
		end)
"#
        .to_owned()
    } else {
        format!(
            r#"		it("finds by id", function()
			local found
			for _, item in items do
				if item.id == {first} then
					found = item
				end
			end
			expect(found).to.be.ok()
			expect(found.name).to.equal("item{first}")
		end)
"#
        )
    };
    format!(
        r#"local helper = require(script.Parent.Parent.Shared.helper)

return function()
	describe("feature {spec}", function()
		local items
		beforeEach(function()
			items = helper.inventory(10)
		end)

		it("counts its items", function()
			expect(#items).to.equal(10)
		end)
		it("adds them up", function()
			expect(helper.total(items)).to.equal(55)
		end)
		it("describes them", function()
			expect(helper.describe(items[{first}])).to.equal("item{first} ({first}): a,b")
		end)
{fourth}{fifth}	end)
end
"#
    )
}
