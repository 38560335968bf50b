//! From where the engine says a thing failed (`ReplicatedStorage.Tests.math.spec:7`, also inside
//! traceback frames and `[string "…"]:7`) to the repository file and line, through Rojo's
//! `sourcemap.json` (`rojo sourcemap`). Full instance names are indexed whole, so names that
//! contain dots (`math.spec`) need no guessing. Without a sourcemap, `TaskScript:N` (the task's
//! own chunk) still maps to `script-path`, line N.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A place in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileLine {
    /// Relative to the workspace (the repository on CI), with `/` separators.
    pub path: String,
    pub line: u32,
}

/// Why a sourcemap could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourcemapError {
    #[error("is not a Rojo sourcemap: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    name: String,
    #[serde(default)]
    class_name: Option<String>,
    #[serde(default)]
    file_paths: Vec<String>,
    #[serde(default)]
    children: Vec<Node>,
}

/// Instance full names to the script file that holds each.
#[derive(Debug, Clone, Default)]
pub struct Sourcemap {
    files: HashMap<String, String>,
    /// The full names of every ModuleScript, in the sourcemap's order.
    modules: Vec<String>,
}

impl Sourcemap {
    /// Reads `sourcemap.json`. Its file paths are relative to the project's folder, which is
    /// where the sourcemap is written (`base`); they are made relative to `workspace` (the
    /// repository). A file outside the workspace is left out: no annotation may point at
    /// `/etc/passwd.lua` or `../elsewhere`, and a test there keeps its instance location.
    pub fn parse(text: &[u8], base: &Path, workspace: &Path) -> Result<Self, SourcemapError> {
        let root: Node =
            serde_json::from_slice(text).map_err(|e| SourcemapError::Malformed(e.to_string()))?;
        let mut files = HashMap::new();
        let mut modules = Vec::new();
        // A place's root is the DataModel, which full names leave out; a model project's root
        // is the first name.
        if root.class_name.as_deref() == Some("DataModel") {
            for child in &root.children {
                index(
                    child,
                    child.name.clone(),
                    base,
                    workspace,
                    &mut files,
                    &mut modules,
                );
            }
        } else {
            index(
                &root,
                root.name.clone(),
                base,
                workspace,
                &mut files,
                &mut modules,
            );
        }
        Ok(Self { files, modules })
    }

    /// How many scripts it knows.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The repository file of an instance, by full name.
    pub fn file_of(&self, full_name: &str) -> Option<&str> {
        self.files.get(full_name).map(String::as_str)
    }

    /// Every ModuleScript that maps to a repository file: its full name and its file, in the
    /// sourcemap's order (what coverage can count).
    pub fn module_files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.modules
            .iter()
            .filter_map(|name| Some((name.as_str(), self.file_of(name)?)))
    }

    /// The spec modules TestEZ finds under `root` (the root itself included): ModuleScripts
    /// whose names end in `.spec`, by full name.
    pub fn spec_modules_under(&self, root: &str) -> Vec<String> {
        self.modules
            .iter()
            .filter(|name| name.ends_with(".spec"))
            .filter(|name| {
                *name == root
                    || name
                        .strip_prefix(root)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .cloned()
            .collect()
    }
}

fn index(
    node: &Node,
    full_name: String,
    base: &Path,
    workspace: &Path,
    files: &mut HashMap<String, String>,
    modules: &mut Vec<String>,
) {
    if node.class_name.as_deref() == Some("ModuleScript") {
        modules.push(full_name.clone());
    }
    if let Some(file) = node
        .file_paths
        .iter()
        .find(|p| p.ends_with(".luau") || p.ends_with(".lua"))
        .and_then(|script| inside(&base.join(script), workspace))
    {
        files.insert(full_name.clone(), file);
    }
    for child in &node.children {
        index(
            child,
            format!("{full_name}.{}", child.name),
            base,
            workspace,
            files,
            modules,
        );
    }
}

/// `path` relative to `workspace`, with `/`, when it lies inside it once `.` and `..` are
/// resolved (lexically: the files need not exist here); `None` outside it. A relative `path`
/// is taken from the workspace.
fn inside(path: &Path, workspace: &Path) -> Option<String> {
    let workspace = normalise(workspace);
    let path = normalise(&workspace.join(path));
    let relative = path.strip_prefix(&workspace).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `.` and `..` resolved lexically; `..` never climbs above the root.
fn normalise(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// Maps engine locations to files: through the sourcemap, and `TaskScript` to `script-path`.
/// With a test framework, it also knows the framework's own chunks, whose frames never locate
/// a failure and are not what a reader looks at first.
#[derive(Debug, Clone)]
pub struct Locator {
    /// Shared: a step of many tasks gives each its own locator over the one sourcemap.
    sourcemap: Option<std::sync::Arc<Sourcemap>>,
    script_path: Option<String>,
    /// The instance the framework's chunks live under (`ReplicatedStorage.Packages`), with a
    /// test framework; `TaskScript` is then luau-exec's bootstrap, the framework's too.
    framework: Option<String>,
    frames: Regex,
}

/// One `Name:line` (or `[string "Name"]:line`) in a message or traceback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The chunk: a full instance name, or `TaskScript`.
    pub chunk: &'a str,
    pub line: &'a str,
    /// Where in the text the frame starts and ends (bytes).
    pub start: usize,
    pub end: usize,
}

/// Whether a chunk is a test module by the frameworks' naming rule (TestEZ's `*.spec`,
/// Jest-Lua's `*.spec` and `*.test`).
fn is_test_module(chunk: &str) -> bool {
    chunk.ends_with(".spec") || chunk.ends_with(".test")
}

impl Default for Locator {
    fn default() -> Self {
        Self::new(None, None)
    }
}

impl Locator {
    pub fn new(sourcemap: Option<Sourcemap>, script_path: Option<String>) -> Self {
        Self {
            sourcemap: sourcemap.map(std::sync::Arc::new),
            script_path,
            framework: None,
            // `[string "A.B"]:7`, or a name (dots allowed, no spaces) followed by `:7`.
            frames: Regex::new(r#"\[string "([^"\n]+)"\]:(\d+)|([A-Za-z_@][^\s:"'\[\]()]*):(\d+)"#)
                .unwrap_or_else(|_| Regex::new("$^").expect("an empty pattern compiles")),
        }
    }

    /// The sourcemap, when one was given.
    pub fn sourcemap(&self) -> Option<&Sourcemap> {
        self.sourcemap.as_deref()
    }

    /// The same sourcemap, with `TaskScript` mapped to another script file (a step that runs
    /// several scripts).
    pub fn for_script(&self, script_path: Option<String>) -> Self {
        Self {
            sourcemap: self.sourcemap.clone(),
            script_path,
            framework: self.framework.clone(),
            frames: self.frames.clone(),
        }
    }

    /// The same locator, knowing the framework's chunks: those under `root` (an instance's full
    /// name, see [`crate::results::bootstrap::Suite::framework_root`]) and the bootstrap's own
    /// `TaskScript`.
    pub fn with_framework(mut self, root: Option<String>) -> Self {
        self.framework = root;
        self
    }

    /// Whether a chunk is the framework's (or luau-exec's bootstrap's) own code.
    pub fn is_framework(&self, chunk: &str) -> bool {
        self.framework.as_deref().is_some_and(|root| {
            chunk == "TaskScript"
                || chunk
                    .strip_prefix(root)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }

    /// The file and line of one location: `ReplicatedStorage.Tests.math.spec:7`,
    /// `[string "…"]:7`, `TaskScript:3`.
    pub fn resolve(&self, location: &str) -> Option<FileLine> {
        self.frames_in(location.trim())
            .find_map(|frame| self.file_line(frame.chunk, frame.line))
    }

    /// Every frame of a message or traceback, in the order they appear.
    pub fn frames_in<'t>(&self, text: &'t str) -> impl Iterator<Item = Frame<'t>> + use<'_, 't> {
        self.frames.captures_iter(text).filter_map(|captures| {
            // Either `[string "name"]:line` (groups 1, 2) or `name:line` (groups 3, 4).
            let name = captures.get(1).or_else(|| captures.get(3))?;
            let line = captures.get(2).or_else(|| captures.get(4))?;
            let whole = captures.get(0)?;
            Some(Frame {
                chunk: name.as_str(),
                line: line.as_str(),
                start: whole.start(),
                end: whole.end(),
            })
        })
    }

    /// The first frame in a message or traceback, not the framework's, that maps to a file.
    pub fn find_in(&self, text: &str) -> Option<FileLine> {
        self.frames_in(text)
            .filter(|frame| !self.is_framework(frame.chunk))
            .find_map(|frame| self.file_line(frame.chunk, frame.line))
    }

    /// Where a failed test failed, from its message when the envelope gave no location that
    /// maps: the innermost frame in a test module (the line of the test, even when a helper
    /// it called raised the error), else the first frame that maps ([`Self::find_in`]).
    pub fn find_test_line(&self, text: &str) -> Option<FileLine> {
        self.frames_in(text)
            .filter(|frame| is_test_module(frame.chunk) && !self.is_framework(frame.chunk))
            .find_map(|frame| self.file_line(frame.chunk, frame.line))
            .or_else(|| self.find_in(text))
    }

    /// A frame as a reader wants to see it: the repository file and line when it maps, else
    /// the engine's name for it.
    pub fn describe(&self, frame: &Frame<'_>) -> String {
        match self.file_line(frame.chunk, frame.line) {
            Some(file) => format!("{}:{}", file.path, file.line),
            None => format!("{}:{}", frame.chunk, frame.line),
        }
    }

    /// The file and line of a chunk's line, when the chunk maps to a file.
    pub fn file_line(&self, name: &str, line: &str) -> Option<FileLine> {
        let line: u32 = line.parse().ok().filter(|l| *l > 0)?;
        let path = if name == "TaskScript" {
            self.script_path.clone()?
        } else {
            self.sourcemap.as_ref()?.file_of(name)?.to_owned()
        };
        Some(FileLine { path, line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: &str = r#"{ "name": "game", "className": "DataModel", "filePaths": ["default.project.json"],
      "children": [ { "name": "ReplicatedStorage", "className": "ReplicatedStorage",
        "children": [ { "name": "Tests", "className": "Folder",
          "children": [
            { "name": "math.spec", "className": "ModuleScript", "filePaths": ["src/tests/math.spec.luau"] },
            { "name": "Shared", "className": "ModuleScript", "filePaths": ["src/tests/Shared/init.meta.json", "src/tests/Shared/init.lua"] }
          ] } ] } ] }"#;

    fn locator() -> Locator {
        let map = Sourcemap::parse(PLACE.as_bytes(), Path::new(""), Path::new("/repo")).unwrap();
        assert_eq!(map.len(), 2);
        Locator::new(Some(map), Some("tasks/run.luau".into()))
    }

    fn at(path: &str, line: u32) -> Option<FileLine> {
        Some(FileLine {
            path: path.into(),
            line,
        })
    }

    #[test]
    fn full_names_with_dots_map_to_files() {
        let locator = locator();
        assert_eq!(
            locator.resolve("ReplicatedStorage.Tests.math.spec:7"),
            at("src/tests/math.spec.luau", 7)
        );
        assert_eq!(
            locator.resolve("ReplicatedStorage.Tests.Shared:12"),
            at("src/tests/Shared/init.lua", 12)
        );
        assert_eq!(
            locator.resolve(r#"[string "ReplicatedStorage.Tests.math.spec"]:24"#),
            at("src/tests/math.spec.luau", 24)
        );
        assert_eq!(locator.resolve("ReplicatedStorage.Tests.nothing:3"), None);
        assert_eq!(locator.resolve("TaskScript:3"), at("tasks/run.luau", 3));
    }

    #[test]
    fn the_first_frame_that_maps_wins() {
        let message = "ReplicatedStorage.TestEZ.Expectation:47: Expected 1, got 2\nReplicatedStorage.TestEZ.Expectation:47 function assertLevel\nReplicatedStorage.Tests.math.spec:7\n";
        assert_eq!(
            locator().find_in(message),
            at("src/tests/math.spec.luau", 7)
        );
        assert_eq!(locator().find_in("no frames here"), None);
    }

    #[test]
    fn paths_are_made_relative_to_the_workspace() {
        let map = Sourcemap::parse(
            PLACE.as_bytes(),
            Path::new("/repo/game"),
            Path::new("/repo"),
        )
        .unwrap();
        let locator = Locator::new(Some(map), None);
        assert_eq!(
            locator.resolve("ReplicatedStorage.Tests.math.spec:1"),
            at("game/src/tests/math.spec.luau", 1)
        );
        assert_eq!(
            inside(Path::new("/repo/a/../b/./c.luau"), Path::new("/repo")),
            Some("b/c.luau".into())
        );
        // Without a script path, TaskScript maps nowhere.
        assert_eq!(Locator::default().resolve("TaskScript:3"), None);
    }

    #[test]
    fn files_outside_the_workspace_are_never_annotated() {
        let outside = r#"{ "name": "game", "className": "DataModel", "children": [
            { "name": "Absolute", "className": "ModuleScript", "filePaths": ["/etc/passwd.lua"] },
            { "name": "Climbing", "className": "ModuleScript", "filePaths": ["../../etc/passwd.lua"] },
            { "name": "Sibling", "className": "ModuleScript", "filePaths": ["../repo-other/x.lua"] },
            { "name": "Back", "className": "ModuleScript", "filePaths": ["src/../../repo/src/back.lua"] },
            { "name": "Inside", "className": "ModuleScript", "filePaths": ["/repo/src/inside.luau"] } ] }"#;
        let map =
            Sourcemap::parse(outside.as_bytes(), Path::new("/repo"), Path::new("/repo/")).unwrap();
        let locator = Locator::new(Some(map), None);
        for name in ["Absolute", "Climbing", "Sibling"] {
            assert_eq!(locator.resolve(&format!("{name}:3")), None, "{name}");
        }
        assert_eq!(locator.resolve("Back:3"), at("src/back.lua", 3));
        assert_eq!(locator.resolve("Inside:3"), at("src/inside.luau", 3));
        // The workspace itself is no file, and `..` stops at the root.
        assert_eq!(inside(Path::new("/repo/."), Path::new("/repo")), None);
        assert_eq!(
            inside(Path::new("/../../repo/a.lua"), Path::new("/repo")),
            Some("a.lua".into())
        );
    }

    #[test]
    fn a_model_projects_root_is_part_of_the_name() {
        let model = r#"{ "name": "Package", "className": "ModuleScript", "filePaths": ["src/init.luau"],
            "children": [ { "name": "Util", "className": "ModuleScript", "filePaths": ["src/Util.luau"] } ] }"#;
        let map = Sourcemap::parse(model.as_bytes(), Path::new(""), Path::new("/r")).unwrap();
        let locator = Locator::new(Some(map), None);
        assert_eq!(locator.resolve("Package.Util:4"), at("src/Util.luau", 4));
    }
}
