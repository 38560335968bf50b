//! How the tool reaches users without building it: the release archives that rokit, aftman and
//! foreman install (`scripts/package-release.py`), and the crate that `cargo install` builds.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn package_release(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(repository().join("scripts/package-release.py"))
        .args(args)
        .output()
        .expect("python3 runs")
}

/// Each member of a zip as (name, unix mode), read with Python's zipfile, the reader the
/// installers' own zip readers agree with on these fields.
fn zip_members(archive: &Path) -> Vec<(String, u32)> {
    let listing = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.external_attr >> 16)",
        ])
        .arg(archive)
        .output()
        .expect("python3 runs");
    assert!(listing.status.success(), "{listing:?}");
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|line| {
            let (name, mode) = line.rsplit_once(' ').expect("name and mode");
            (name.to_owned(), mode.parse().expect("a mode"))
        })
        .collect()
}

#[test]
fn release_archives_hold_the_binary_alone_under_the_name_installers_look_for() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("built-binary");
    std::fs::write(&binary, b"\x7fELF not really").unwrap();
    let out = dir.path().join("dist");
    for (os, arch, member) in [
        ("linux", "x86_64", "luau-exec"),
        ("linux", "aarch64", "luau-exec"),
        ("macos", "x86_64", "luau-exec"),
        ("macos", "aarch64", "luau-exec"),
        ("windows", "x86_64", "luau-exec.exe"),
    ] {
        let run = package_release(&[
            binary.to_str().unwrap(),
            "1.2.3",
            os,
            arch,
            out.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{os}-{arch}: {run:?}");
        let archive = out.join(format!("luau-exec-1.2.3-{os}-{arch}.zip"));
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            archive.to_str().unwrap()
        );
        let members = zip_members(&archive);
        // Only the binary, at the root, executable once unpacked (0o100755).
        assert_eq!(members, vec![(member.to_owned(), 0o100_755)], "{os}-{arch}");
    }
    // The same binary packs to the same bytes: a rebuilt release does not change its assets.
    let first = std::fs::read(out.join("luau-exec-1.2.3-linux-x86_64.zip")).unwrap();
    package_release(&[
        binary.to_str().unwrap(),
        "1.2.3",
        "linux",
        "x86_64",
        out.to_str().unwrap(),
    ]);
    let second = std::fs::read(out.join("luau-exec-1.2.3-linux-x86_64.zip")).unwrap();
    assert_eq!(first, second);
}

#[test]
fn release_packaging_refuses_names_installers_would_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("luau-exec");
    std::fs::write(&binary, b"bin").unwrap();
    let out = dir.path().join("dist");
    for (version, os, arch, says) in [
        ("v1.2.3", "linux", "x86_64", "version `v1.2.3`"),
        ("1.2.3", "darwin", "x86_64", "os `darwin`"),
        ("1.2.3", "linux", "amd64", "arch `amd64`"),
    ] {
        let run = package_release(&[
            binary.to_str().unwrap(),
            version,
            os,
            arch,
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.status.code(), Some(2), "{run:?}");
        assert!(
            String::from_utf8_lossy(&run.stderr).contains(says),
            "{run:?}"
        );
    }
    let missing = package_release(&["no-such-binary", "1.2.3", "linux", "x86_64"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(!out.exists(), "nothing is written for a refused archive");
}

/// `cargo install luau-exec` builds what `cargo package` ships: every file the sources compile
/// in must be there, and the repository's tests, benches and CI files must not.
#[test]
fn the_published_crate_ships_what_it_builds_from() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let listing = Command::new(cargo)
        .current_dir(repository())
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .output()
        .expect("cargo runs");
    assert!(listing.status.success(), "{listing:?}");
    let shipped: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for file in compiled_in_files(&repository().join("src")) {
        assert!(
            shipped.contains(&file),
            "{file} is compiled in but not shipped"
        );
    }
    for needed in ["Cargo.lock", "README.md", "LICENSE", "src/main.rs"] {
        assert!(shipped.iter().any(|f| f == needed), "{needed} not shipped");
    }
    for kept_home in ["tests/", "benches/", ".github/", "examples/", ".ci/"] {
        assert!(
            !shipped.iter().any(|f| f.starts_with(kept_home)),
            "{kept_home} is shipped: {shipped:?}"
        );
    }
}

/// The files named by `include_str!`/`include_bytes!` under `src`, relative to the repository.
fn compiled_in_files(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("include_").skip(1) {
                let Some(rest) = piece
                    .strip_prefix("str!(\"")
                    .or_else(|| piece.strip_prefix("bytes!(\""))
                else {
                    continue;
                };
                let name = rest.split('"').next().unwrap_or_default();
                let file = path.parent().unwrap().join(name);
                let relative = file.strip_prefix(repository()).unwrap();
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    assert!(!found.is_empty(), "the bootstraps are compiled in");
    found
}
