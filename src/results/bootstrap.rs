//! The task scripts luau-exec writes for a test framework: a config table literal, the shared
//! Luau part (instance lookup, the envelope and its trimming) and the framework's own part
//! (run the suite, flatten its results). The Luau sources ship inside the binary.

/// Instance lookup, location of failures, and the envelope with its 4 MB trimming.
pub const COMMON: &str = include_str!("bootstrap/common.luau");
/// The per-test reports of live progress (`liveTestStarted`, `liveTestEnded`): they do nothing
/// unless the runner defined `liveReport` in front of the script.
pub const LIVE: &str = include_str!("bootstrap/live.luau");
/// `runSuite` and `testEZFlattener`.
pub const TESTEZ: &str = include_str!("bootstrap/testez.luau");
/// `runSuite` and `flattenJest`.
pub const JEST: &str = include_str!("bootstrap/jest.luau");

/// A test framework luau-exec can run without a bootstrap of the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    TestEz,
    Jest,
}

impl Framework {
    /// The input's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "testez" => Some(Self::TestEz),
            "jest" | "jest-lua" => Some(Self::Jest),
            _ => None,
        }
    }

    /// Where the framework usually lives in a Wally-managed place.
    pub fn default_path(self) -> &'static str {
        match self {
            Self::TestEz => "ReplicatedStorage.Packages.TestEZ",
            Self::Jest => "ReplicatedStorage.Packages.Jest",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Self::TestEz => TESTEZ,
            Self::Jest => JEST,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::TestEz => "testez",
            Self::Jest => "jest",
        }
    }
}

/// What the bootstrap runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    pub framework: Framework,
    /// Instance paths of the roots: `ReplicatedStorage.Tests`.
    pub roots: Vec<String>,
    /// Only tests whose names match (TestEZ: a Lua pattern; Jest: a regular expression).
    pub name_pattern: Option<String>,
    /// Where the framework's module is: `ReplicatedStorage.Packages.TestEZ`.
    pub framework_path: String,
    /// A ModuleScript the task requires before the suite runs (`test-setup`).
    pub setup: Option<String>,
    /// When the suite is split across tasks: which part this task runs.
    pub shard: Option<Shard>,
    /// With a shard: the memory-store sorted map whose counter the step's tasks claim spec
    /// modules from, one at a time (work stealing, see [`crate::work_queue`]); `None` deals
    /// them out statically ([`Shard::share_of`]).
    pub work_queue: Option<String>,
    /// Whether the framework's own text reporter prints too. luau-exec's list of failures
    /// replaces it, so only when asked (`RUNNER_DEBUG=1`, GitHub's debug logging).
    pub framework_output: bool,
    /// With coverage: the instances the bootstrap enables it on (`ScriptContext:
    /// EnableCoverage`) before requiring anything; see [`crate::coverage::select::roots`].
    pub coverage: Option<Vec<String>>,
    /// `live-progress`: the task reports each test as it goes (see [`crate::live_progress`]),
    /// through the `liveReport` the runner puts in front of the script.
    pub live: bool,
}

impl Suite {
    /// The instance the framework's own chunks live under: a package manager's `Packages`
    /// folder when the framework is in one (Wally links the package to `Packages._Index`, with
    /// its dependencies beside it), else the framework itself. `frameworkRoot` in
    /// `common.luau` reads it the same way.
    pub fn framework_root(&self) -> String {
        match self.framework_path.rsplit_once('.') {
            Some((parent, _)) if parent == "Packages" || parent.ends_with(".Packages") => {
                parent.to_owned()
            }
            _ => self.framework_path.clone(),
        }
    }

    /// What a run whose `test-name-pattern` matched none of its tests says: the pattern, how
    /// many tests it was matched against, and what a test's name looks like to the framework.
    pub fn nothing_matched(
        &self,
        pattern: &str,
        tests: &[crate::results::TestCase],
        github_actions: bool,
    ) -> String {
        let example = match (self.framework, tests.first()) {
            // TestEZ matches the pattern against each test's full name: its path, spaced.
            (Framework::TestEz, Some(test)) => format!(
                "; TestEZ matches a Lua pattern against each test's full name, such as `{}`",
                crate::text::cut(&test.path.join(" "), 80)
            ),
            (Framework::Jest, _) => {
                "; Jest-Lua matches a regular expression against each test's name".to_owned()
            }
            (Framework::TestEz, None) => String::new(),
        };
        format!(
            "{} `{}` matched none of the {} tests under {}, so none ran{example}",
            crate::text::input_name("test-name-pattern", github_actions),
            crate::text::cut(pattern, 80),
            tests.len(),
            self.roots.join(", "),
        )
    }

    /// What a run that found no tests says, naming where it looked.
    pub fn nothing_found(&self) -> String {
        format!(
            "no tests were found under {} ({} looks for ModuleScripts named `*.spec`)",
            self.roots.join(", "),
            self.framework.name()
        )
    }
}

/// One part of a suite split across tasks. TestEZ's spec modules (Jest-Lua's roots) are sorted
/// by full name and dealt out in turn, so every task computes the same split from the same
/// place, and folders of many specs spread over every shard. With work stealing (TestEZ's
/// `work_queue`) every task sorts the same names and claims the next one from a shared counter
/// instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 1.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// This shard's share of `names`, computed as the bootstrap computes it in the task
    /// (`shardOf` in `common.luau`): sorted, then dealt out in turn.
    pub fn share_of(self, mut names: Vec<String>) -> Vec<String> {
        names.sort();
        names
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, name)| name)
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {}/{}", self.index, self.count)
    }
}

/// The task script for a suite: it returns the results envelope.
pub fn script(suite: &Suite) -> String {
    let roots = suite
        .roots
        .iter()
        .map(|root| lua_string(root))
        .collect::<Vec<_>>()
        .join(", ");
    let pattern = suite
        .name_pattern
        .as_deref()
        .map_or("nil".to_owned(), lua_string);
    let coverage = suite.coverage.as_ref().map_or("nil".to_owned(), |roots| {
        let roots: Vec<String> = roots.iter().map(|root| lua_string(root)).collect();
        format!("{{ {} }}", roots.join(", "))
    });
    let setup = suite.setup.as_deref().map_or("nil".to_owned(), lua_string);
    let shard = suite.shard.map_or("nil".to_owned(), |shard| {
        format!("{{ index = {}, count = {} }}", shard.index, shard.count)
    });
    let work_queue = suite
        .work_queue
        .as_deref()
        .map_or("nil".to_owned(), lua_string);
    format!(
        "-- Written by luau-exec: runs the {name} suite and returns its results envelope.\n\
         local CONFIG = {{\n\
         \tframeworkPath = {path},\n\
         \troots = {{ {roots} }},\n\
         \ttestNamePattern = {pattern},\n\
         \tsetup = {setup},\n\
         \tshard = {shard},\n\
         \tworkQueue = {work_queue},\n\
         \tframeworkOutput = {output},\n\
         \tcoverage = {coverage},\n\
         }}\n\n{COMMON}\n{LIVE}\n{framework}\nreturn runSuite(CONFIG)\n",
        name = suite.framework.name(),
        path = lua_string(&suite.framework_path),
        output = suite.framework_output,
        framework = suite.framework.source(),
    )
}

/// A Luau string literal holding `text` exactly.
pub fn lua_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(byte as char),
            // Control characters and UTF-8 bytes as decimal escapes: the literal stays ASCII.
            other => out.push_str(&format!("\\{other:03}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frameworks_have_their_spellings_and_homes() {
        assert_eq!(Framework::parse("TestEZ"), Some(Framework::TestEz));
        assert_eq!(Framework::parse("jest"), Some(Framework::Jest));
        assert_eq!(Framework::parse("busted"), None);
        assert_eq!(
            Framework::TestEz.default_path(),
            "ReplicatedStorage.Packages.TestEZ"
        );
    }

    #[test]
    fn shards_deal_sorted_names_out_in_turn() {
        let names: Vec<String> = ["c", "a", "e", "b", "d"].map(String::from).to_vec();
        let share = |index| Shard { index, count: 2 }.share_of(names.clone());
        assert_eq!(share(1), ["a", "c", "e"]);
        assert_eq!(share(2), ["b", "d"]);
        // Every name lands in exactly one shard.
        let mut all: Vec<String> = (1..=3)
            .flat_map(|index| Shard { index, count: 3 }.share_of(names.clone()))
            .collect();
        all.sort();
        assert_eq!(all, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn the_script_carries_its_config_as_literals() {
        let text = script(&Suite {
            framework: Framework::TestEz,
            roots: vec![
                "ReplicatedStorage.Tests".into(),
                "ServerScriptService.\"x\"".into(),
            ],
            name_pattern: Some("adds".into()),
            framework_path: "ReplicatedStorage.TestEZ".into(),
            setup: Some("ReplicatedStorage.TestSetup".into()),
            shard: Some(Shard { index: 2, count: 3 }),
            work_queue: Some("luau-exec-steal-x".into()),
            framework_output: false,
            coverage: Some(vec!["ReplicatedStorage.Shared".into()]),
            live: false,
        });
        assert!(
            text.contains(r#"roots = { "ReplicatedStorage.Tests", "ServerScriptService.\"x\"" }"#),
            "{text}"
        );
        assert!(text.contains(r#"testNamePattern = "adds""#));
        assert!(text.contains(r#"frameworkPath = "ReplicatedStorage.TestEZ""#));
        assert!(
            text.contains(r#"setup = "ReplicatedStorage.TestSetup","#),
            "{text}"
        );
        assert!(text.contains("shard = { index = 2, count = 3 },"), "{text}");
        assert!(
            text.contains(r#"workQueue = "luau-exec-steal-x","#),
            "{text}"
        );
        assert!(text.contains("frameworkOutput = false,"), "{text}");
        assert!(
            text.contains(r#"coverage = { "ReplicatedStorage.Shared" },"#),
            "{text}"
        );
        assert!(text.ends_with("return runSuite(CONFIG)\n"));
        assert_eq!(lua_string("é\n\\"), r#""\195\169\n\\""#);
    }
}
