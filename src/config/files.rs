//! The files a run sends and writes beside its reports: the place file it uploads, the binary
//! input and output; each checked before anything is sent.

use std::path::{Path, PathBuf};

use super::inputs::Inputs;
use super::target::Site;
use super::tasks::Work;
use super::{Backend, ConfigError, Problems};
use crate::roblox::{MAX_BINARY_INPUT_BYTES, MAX_PLACE_FILE_BYTES};

/// The place file to upload as a new Saved version before the run.
#[derive(Debug, Clone)]
pub struct PlaceFile {
    pub path: PathBuf,
    /// `application/octet-stream` for `.rbxl`, `application/xml` for `.rbxlx`.
    pub content_type: &'static str,
    pub size: u64,
}

/// The files the run sends and writes: the place file, the binary input and output (which go
/// with one task).
pub(super) fn load_files(
    inputs: &Inputs<'_>,
    problems: &mut Problems,
    units: usize,
) -> (Option<PlaceFile>, Option<PathBuf>, Option<PathBuf>) {
    let args = inputs.args;
    let place_file = inputs
        .input("place-file", &args.place_file)
        .and_then(|p| problems.take(load_place_file(Path::new(&p))));
    let binary_input = inputs
        .input("binary-input", &args.binary_input)
        .and_then(|p| problems.take(check_binary_input(PathBuf::from(p))));
    let binary_output = inputs
        .input("binary-output", &args.binary_output)
        .and_then(|p| problems.take(check_writable("binary-output", PathBuf::from(p))));
    for (input, given) in [
        ("binary-input", binary_input.is_some()),
        ("binary-output", binary_output.is_some()),
    ] {
        if given && units > 1 {
            problems.push(
                input,
                format!(
                    "goes with one task, but this step runs {units} (several scripts or shards)"
                ),
            );
        }
    }
    (place_file, binary_input, binary_output)
}

/// The place the tasks run in: a version and a file are two answers to one question, and a
/// suite on the local backend needs a place at all.
pub(super) fn check_place(
    problems: &mut Problems,
    target: &Site,
    work: &Option<Work>,
    place_file: bool,
) {
    let suite = work.as_ref().is_some_and(|w| w.suite.is_some());
    if target.backend == Backend::Local && suite && !place_file && target.place_version.is_none() {
        problems.push(
            "place-file",
            "is required with `test-framework` on the local backend: without it the emulator runs an empty place, with no framework and no tests in it (give the .rbxl that `rojo build` makes)",
        );
    }
    if place_file && target.place_version.is_some() {
        problems.push(
            "place-file",
            "conflicts with `place-version`: the run uses the version the upload creates; give one or the other",
        );
    }
}

/// Checks that a file exists, is a regular file, is not empty and is at most `max` bytes.
pub(super) fn check_file(input: &'static str, path: &Path, max: u64) -> Result<u64, ConfigError> {
    let shown = path.display();
    let metadata = std::fs::metadata(path)
        .map_err(|e| ConfigError::new(input, format!("cannot read `{shown}`: {e}")))?;
    if !metadata.is_file() {
        return Err(ConfigError::new(input, format!("`{shown}` is not a file")));
    }
    let size = metadata.len();
    if size == 0 {
        return Err(ConfigError::new(input, format!("`{shown}` is empty")));
    }
    if size > max {
        return Err(ConfigError::new(
            input,
            format!("`{shown}` is {size} bytes, over the {max}-byte limit"),
        ));
    }
    Ok(size)
}

pub(super) fn load_place_file(path: &Path) -> Result<PlaceFile, ConfigError> {
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("rbxl") => "application/octet-stream",
        Some(ext) if ext.eq_ignore_ascii_case("rbxlx") => "application/xml",
        _ => {
            return Err(ConfigError::new(
                "place-file",
                format!(
                    "`{}` must end in .rbxl (binary) or .rbxlx (XML)",
                    path.display()
                ),
            ));
        }
    };
    let size = check_file("place-file", path, MAX_PLACE_FILE_BYTES)?;
    Ok(PlaceFile {
        path: path.to_owned(),
        content_type,
        size,
    })
}

/// Checks, before anything is sent, that a file can be written at `path` (see
/// [`crate::files::check_target`]): a regular file or none yet, never a FIFO (writing to one
/// would block forever), a device or a directory, in a folder that exists or can be made.
pub(super) fn check_writable(input: &'static str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    crate::files::check_target(&path).map_err(|problem| ConfigError::new(input, problem))?;
    Ok(path)
}

pub(super) fn check_binary_input(path: PathBuf) -> Result<PathBuf, ConfigError> {
    check_file("binary-input", &path, MAX_BINARY_INPUT_BYTES)?;
    Ok(path)
}
