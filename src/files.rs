//! The files luau-exec writes on this machine (`binary-output`, `junit-path`): which paths may
//! be written at all, checked before anything is sent, and a write that lands whole or not at
//! all.
//!
//! Every write goes to a temporary file beside its target and is renamed onto it only once
//! complete, so a write that fails (a broken download, a full disk, `wait-timeout`, a signal)
//! leaves whatever the target held before, never a partial file and never a deleted one. A
//! target must be a regular file or not exist yet: writing to a FIFO would block forever, and a
//! device node or a directory is never something to replace. A symbolic link to a regular
//! file is followed: the file it points at is replaced and the link stays a link, as `cp`
//! would write through it.
//!
//! The runner's own files (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`) are appended to, not
//! written here: they belong to the runner, which reads what every step appended.

use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

/// Checks, before anything is sent, that a file can later be written at `path`: it is a
/// regular file (or a symbolic link to one) or does not exist yet, its folder exists or can be
/// made, and a file can be created in that folder. Leaves nothing behind but the folder.
/// The error says what is wrong, in a sentence that names the path.
pub fn check_target(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let target = resolve(path).map_err(|e| format!("cannot use `{shown}`: {e}"))?;
    if let Some(metadata) = existing(&target)
        .map_err(|e| format!("cannot use `{shown}`: {e}"))?
        .filter(|m| !m.is_file())
    {
        return Err(format!(
            "`{shown}` is {}, not a regular file: give the path of a file to write",
            kind(&metadata)
        ));
    }
    let folder = folder_of(&target);
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create the folder `{}`: {e}", folder.display()))?;
    // The write lands through a file created beside the target: that is what must work.
    Staged::beside(&target)
        .map(drop)
        .map_err(|e| format!("cannot write `{shown}`: {e}"))
}

/// Writes `bytes` to `path` whole: beside it first, then renamed into place.
pub fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (mut file, staged) = Staged::beside(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    staged.commit()
}

/// A file being written beside its target. Dropped without [`Staged::commit`] (an error, a
/// timeout, a cancelled future), it is deleted and the target is left as it was.
#[derive(Debug)]
pub struct Staged {
    temp: TempPath,
    target: PathBuf,
}

impl Staged {
    /// Creates the temporary file in the target's folder (a rename never crosses file
    /// systems), for `path` or the regular file a symbolic link at `path` points to. The file
    /// gets the permissions the target has, or a new file's (`0o666` less the umask), not a
    /// temporary file's owner-only ones: reports are read by later steps, maybe as other users.
    pub fn beside(path: &Path) -> io::Result<(File, Self)> {
        let target = resolve(path)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // `.out.bin.Xy3k9Q.partial`: hidden, and plainly not the finished file.
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = existing(&target)?
                .filter(Metadata::is_file)
                .map_or(0o666, |m| m.permissions().mode() & 0o777);
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        let (file, temp) = builder.tempfile_in(folder_of(&target))?.into_parts();
        Ok((file, Self { temp, target }))
    }

    /// Renames the finished file onto its target. The caller has written, flushed and closed
    /// it. Refuses (and deletes the file) if the target has meanwhile become something other
    /// than a regular file: a rename would replace a device node or a FIFO.
    pub fn commit(self) -> io::Result<()> {
        if let Some(metadata) = existing(&self.target)?.filter(|m| !m.is_file()) {
            return Err(io::Error::other(format!(
                "`{}` is {}, not a regular file",
                self.target.display(),
                kind(&metadata)
            )));
        }
        self.temp.persist(&self.target).map_err(|e| e.error)
    }
}

/// The path itself, or for a symbolic link the file it points to (which must exist).
fn resolve(path: &Path) -> io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|e| {
                io::Error::new(e.kind(), format!("it is a symbolic link to nothing ({e})"))
            })
        }
        _ => Ok(path.to_owned()),
    }
}

/// What is at `path` now, if anything.
fn existing(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) => Ok(Some(metadata)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The folder a file is in; the working directory for a bare name.
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// What a non-regular file is, for messages.
fn kind(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (a named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    "a special file"
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    /// Every name in a folder, sorted: to see that no temporary file is left behind.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_whole_write_replaces_the_target_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.xml");
        write_whole(&target, b"first").unwrap();
        write_whole(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["report.xml"]);
    }

    #[test]
    fn an_abandoned_write_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"precious").unwrap();
        let (mut file, staged) = Staged::beside(&target).unwrap();
        file.write_all(b"half of a new ").unwrap();
        // What a failed or cancelled download does: drops both without committing.
        drop(file);
        drop(staged);
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_symlink_to_a_regular_file_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.xml");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        check_target(&link).unwrap();
        write_whole(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link stays a link"
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A link to nothing names no file to replace.
        let dangling = dir.path().join("dangling.xml");
        std::os::unix::fs::symlink(dir.path().join("gone"), &dangling).unwrap();
        let problem = check_target(&dangling).unwrap_err();
        assert!(problem.contains("symbolic link to nothing"), "{problem}");
    }

    #[test]
    fn only_regular_files_are_targets() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (path, kind) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/null"), "a device"),
            (dir.path(), "a directory"),
        ] {
            let problem = check_target(path).unwrap_err();
            assert!(problem.contains(kind), "{problem}");
            assert!(problem.contains(&path.display().to_string()), "{problem}");
        }
        // Nor is anything replaced that became one after the check.
        let target = dir.path().join("late");
        let (file, staged) = Staged::beside(&target).unwrap();
        drop(file);
        nix::unistd::mkfifo(&target, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(staged.commit().is_err());
        assert!(
            std::fs::symlink_metadata(&target)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        // A path that does not exist yet, in a folder that does not either, is fine.
        let fresh = dir.path().join("new/dir/out.bin");
        check_target(&fresh).unwrap();
        assert!(!fresh.exists());
        assert_eq!(names(&dir.path().join("new/dir")), Vec::<String>::new());
    }

    #[test]
    fn permissions_are_a_new_files_or_the_targets() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        // A new file: what an ordinary write makes under this umask, not owner-only.
        let ordinary = dir.path().join("ordinary");
        std::fs::write(&ordinary, b"x").unwrap();
        let fresh = dir.path().join("fresh");
        write_whole(&fresh, b"x").unwrap();
        assert_eq!(mode(&fresh), mode(&ordinary));
        // A replaced file keeps its mode.
        let kept = dir.path().join("kept");
        std::fs::write(&kept, b"x").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_whole(&kept, b"y").unwrap();
        assert_eq!(mode(&kept), 0o640);
    }
}
