//! Which files coverage counts, and which instances the task measures.
//!
//! A file counts when it is a ModuleScript's file in the sourcemap (inside the workspace) and
//! is none of these: a spec module (`*.spec`, `*.test`), the test framework's code (under its
//! `Packages` folder, see [`crate::results::bootstrap::Suite::framework_root`]), a package
//! (a path or instance under `Packages`, `node_modules` or `_Index`). `coverage-include`
//! narrows that to the files matching one of its globs, `coverage-exclude` leaves out the files
//! matching one of its globs. Globs match repository paths (`src/**/*.luau`; `*` stays inside
//! one folder, `**` crosses folders).

use glob::{MatchOptions, Pattern};

use crate::results::Sourcemap;

/// Folders whose code is a package's, not the project's, by name (Wally's `Packages` and its
/// `_Index`, npm's `node_modules`, as roblox-ts projects have).
const PACKAGE_FOLDERS: &[&str] = &["Packages", "node_modules", "_Index"];

/// `*` does not cross `/`: `src/*.luau` is not `src/a/b.luau`.
const MATCHING: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// What coverage counts (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    /// The framework's instance (its `Packages` folder when it is in one).
    framework_root: Option<String>,
}

impl Selection {
    /// From the inputs' globs (commas or lines); an error names the glob that does not parse.
    pub fn new(
        include: &[String],
        exclude: &[String],
        framework_root: Option<String>,
    ) -> Result<Self, (&'static str, String)> {
        let compile = |input: &'static str, globs: &[String]| {
            globs
                .iter()
                .map(|glob| {
                    Pattern::new(glob.trim_start_matches("./")).map_err(|error| {
                        (
                            input,
                            format!(
                                "`{}` is not a valid glob: {error}",
                                crate::text::cut(glob, 80)
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            include: compile("coverage-include", include)?,
            exclude: compile("coverage-exclude", exclude)?,
            framework_root,
        })
    }

    /// Whether the module `full_name`, whose repository file is `path`, counts.
    pub fn selects(&self, full_name: &str, path: &str) -> bool {
        let spec = full_name.ends_with(".spec") || full_name.ends_with(".test");
        let framework = self.framework_root.as_deref().is_some_and(|root| {
            full_name == root
                || full_name
                    .strip_prefix(root)
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        let package = path.split('/').any(|part| PACKAGE_FOLDERS.contains(&part))
            || full_name
                .split('.')
                .any(|part| PACKAGE_FOLDERS.contains(&part));
        if spec || framework || package {
            return false;
        }
        let included = self.include.is_empty()
            || self
                .include
                .iter()
                .any(|glob| glob.matches_with(path, MATCHING));
        included
            && !self
                .exclude
                .iter()
                .any(|glob| glob.matches_with(path, MATCHING))
    }

    /// The full names of the sourcemap's modules that count, in the sourcemap's order.
    pub fn modules(&self, sourcemap: &Sourcemap) -> Vec<String> {
        sourcemap
            .module_files()
            .filter(|(name, path)| self.selects(name, path))
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

/// The instances to enable coverage on so that every module of `modules` is measured: the
/// modules themselves, less those inside another (a ModuleScript with modules inside it). Past
/// `max`, each is replaced by its parent until few enough remain (never above a service), so a
/// large project sends a short list.
pub fn roots(modules: &[String], max: usize) -> Vec<String> {
    let mut roots: Vec<String> = modules.to_vec();
    loop {
        roots.sort();
        roots.dedup();
        // Sorted, a name's descendants follow it: keep a name unless the last kept one holds it.
        let mut kept: Vec<String> = Vec::new();
        for name in roots {
            let inside = kept.last().is_some_and(|last| {
                name.strip_prefix(last.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            });
            if !inside {
                kept.push(name);
            }
        }
        if kept.len() <= max {
            return kept;
        }
        let parents: Vec<String> = kept
            .iter()
            .map(|name| match name.rsplit_once('.') {
                Some((parent, _)) => parent.to_owned(),
                None => name.clone(),
            })
            .collect();
        if parents == kept {
            return kept;
        }
        roots = parents;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(include: &[&str], exclude: &[&str]) -> Selection {
        let own = |globs: &[&str]| globs.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        Selection::new(
            &own(include),
            &own(exclude),
            Some("ReplicatedStorage.Packages".into()),
        )
        .unwrap()
    }

    #[test]
    fn specs_frameworks_and_packages_never_count() {
        let all = selection(&[], &[]);
        assert!(all.selects(
            "ReplicatedStorage.Shared.Inventory",
            "src/shared/Inventory.luau"
        ));
        for (name, path) in [
            (
                "ReplicatedStorage.Tests.Inventory.spec",
                "tests/Inventory.spec.luau",
            ),
            ("ReplicatedStorage.Tests.sum.test", "tests/sum.test.luau"),
            (
                "ReplicatedStorage.Packages.TestEZ",
                "Packages/TestEZ/init.lua",
            ),
            ("ReplicatedStorage.Packages", "Packages/init.lua"),
            ("ReplicatedStorage.Vendor._Index.x", "vendor/x.lua"),
            (
                "ReplicatedStorage.rbxts.y",
                "node_modules/@rbxts/y/init.lua",
            ),
        ] {
            assert!(!all.selects(name, path), "{name}");
        }
        // A name that only starts like the framework's is not the framework's.
        assert!(all.selects("ReplicatedStorage.PackagesOfMine", "src/p.luau"));
    }

    #[test]
    fn include_narrows_and_exclude_removes() {
        let some = selection(&["src/**/*.luau"], &["src/generated/**"]);
        assert!(some.selects("A.B", "src/shared/B.luau"));
        assert!(some.selects("A.C", "src/C.luau"));
        assert!(!some.selects("A.D", "lib/D.luau"));
        assert!(!some.selects("A.E", "src/generated/E.luau"));
        // `*` stays inside one folder.
        let flat = selection(&["src/*.luau"], &[]);
        assert!(flat.selects("A.C", "src/C.luau"));
        assert!(!flat.selects("A.B", "src/shared/B.luau"));
        let bad = Selection::new(&["src/[".into()], &[], None).unwrap_err();
        assert_eq!(bad.0, "coverage-include");
        assert!(bad.1.contains("`src/[` is not a valid glob"), "{}", bad.1);
    }

    #[test]
    fn roots_are_the_modules_less_those_inside_another() {
        let modules: Vec<String> = [
            "ReplicatedStorage.Shared.Util",
            "ReplicatedStorage.Shared",
            "ReplicatedStorage.Shared.Util.Deep",
            "ReplicatedStorage.SharedOther",
            "ServerScriptService.Server.Main",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            roots(&modules, 10),
            [
                "ReplicatedStorage.Shared",
                "ReplicatedStorage.SharedOther",
                "ServerScriptService.Server.Main"
            ]
        );
        // Past the limit, parents stand for their children, never above a service.
        assert_eq!(
            roots(&modules, 2),
            ["ReplicatedStorage", "ServerScriptService.Server"]
        );
        assert_eq!(
            roots(&modules, 1),
            ["ReplicatedStorage", "ServerScriptService"]
        );
        assert!(roots(&[], 5).is_empty());
    }
}
