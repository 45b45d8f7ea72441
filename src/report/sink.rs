//! Where a rendered report goes (`--report FORMAT=PATH`). A report path is often not a plain
//! file: `/dev/stdout` in CI, a FIFO a collector reads, a symlink into an artifacts folder. Write
//! through what is there and replace only regular files, atomically, through a temporary file
//! created exclusively (never opened through a symlink someone planted), so anyone who can write
//! the report's directory still cannot make kfcheck overwrite another file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `text` to `path`:
/// - a FIFO, character device or socket (after following symlinks) is opened and written in
///   place, never replaced (`/dev/stdout`, `/dev/full`'s error is reported);
/// - a regular file, or a symlink to one, is replaced atomically at its real location (the
///   symlink stays), keeping the file's permissions;
/// - a path that does not exist is created atomically.
pub fn write_report(path: &Path, text: &str) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )),
        Ok(m) if !m.is_file() => {
            // Written in place: replacing a device or FIFO with a regular file would break it.
            let mut f = OpenOptions::new().write(true).open(path)?;
            f.write_all(text.as_bytes())?;
            f.flush()
        }
        Ok(m) => {
            let real = fs::canonicalize(path)?;
            replace_atomically(&real, text, Some(m.permissions()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if fs::symlink_metadata(path).is_ok() {
                // A dangling symlink: following it would create a file wherever it points.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is a symlink to nothing; not followed",
                ));
            }
            replace_atomically(path, text, None)
        }
        Err(e) => Err(e),
    }
}

fn replace_atomically(
    path: &Path,
    text: &str,
    permissions: Option<fs::Permissions>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    let (tmp, mut file) = create_exclusive(dir, name)?;
    let written = (|| {
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        if let Some(p) = permissions {
            fs::set_permissions(&tmp, p)?;
        }
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// A new file in `dir` with an unpredictable name, created with O_EXCL (`create_new`), which
/// fails rather than follow a symlink or open a file someone placed there.
fn create_exclusive(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    let mut last = None;
    for attempt in 0u32..16 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        h.write_u32(std::process::id());
        let tmp = dir.join(format!(".{name}.{:016x}.kfcheck-tmp", h.finish()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn a_new_path_and_a_regular_file_are_written_atomically_and_leave_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        write_report(&p, "one").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_report(&p, "two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600,
            "permissions kept"
        );
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["r.json"]);
    }

    #[test]
    fn a_symlink_is_written_through_and_stays_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("artifacts");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("r.xml"), "old").unwrap();
        let link = d.path().join("r.xml");
        symlink(real.join("r.xml"), &link).unwrap();
        write_report(&link, "new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(real.join("r.xml")).unwrap(), "new");
    }

    #[test]
    fn a_dangling_symlink_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("r.xml");
        symlink(d.path().join("elsewhere"), &link).unwrap();
        assert!(write_report(&link, "x").is_err());
        assert!(!d.path().join("elsewhere").exists());
    }

    #[test]
    fn a_fifo_is_written_in_place_not_replaced() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
        };
        write_report(&fifo, "through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(
            &fs::symlink_metadata(&fifo).unwrap().file_type()
        ));
    }

    #[test]
    fn a_full_device_is_an_error_and_stays_a_device() {
        let e = write_report(Path::new("/dev/full"), "report").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
        assert!(!fs::metadata("/dev/full").unwrap().is_file());
    }

    #[test]
    fn a_planted_temporary_symlink_is_never_opened() {
        // Someone who can write the directory plants links at every name a predictable scheme
        // would use; the exclusive create refuses them all and the target stays untouched.
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        symlink(&victim, d.path().join(".r.json.kfcheck-tmp")).unwrap();
        write_report(&d.path().join("r.json"), "report").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }
}
