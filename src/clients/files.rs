//! Files a user names (a kubeconfig, a CODEOWNERS file, a key file): read with a size limit,
//! never through a FIFO or device that could block a run for ever, and when they cannot be read,
//! say why in words that are true (missing, not permitted, not a regular file, too big).

use std::io::Read;
use std::path::Path;

/// Why a named file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("does not exist")]
    Missing,
    #[error("cannot be read: permission denied")]
    Denied,
    #[error("is a directory, not a file")]
    Directory,
    #[error("is {0}, not a regular file; not read")]
    NotRegular(&'static str),
    #[error("is over the {0} limit; not read")]
    TooBig(String),
    #[error("cannot be read: {0}")]
    Other(String),
}

fn from_io(e: &std::io::Error) -> FileError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FileError::Missing,
        std::io::ErrorKind::PermissionDenied => FileError::Denied,
        _ => FileError::Other(e.to_string()),
    }
}

/// What kind of non-regular file `path` is, following symlinks.
fn file_kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// `Ok` when `path` names a regular file (after symlinks) that exists; otherwise why not.
pub fn check_regular(path: &Path) -> Result<(), FileError> {
    let m = std::fs::metadata(path).map_err(|e| from_io(&e))?;
    if m.is_dir() {
        Err(FileError::Directory)
    } else if !m.is_file() {
        Err(FileError::NotRegular(file_kind(m.file_type())))
    } else {
        Ok(())
    }
}

/// Human form of a byte limit (`16 MiB`).
pub fn limit_text(limit: u64) -> String {
    if limit >= 1 << 20 && limit % (1 << 20) == 0 {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit % (1 << 10) == 0 {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}

/// Reads a regular file of at most `limit` bytes; a file that grows past it while being read is
/// refused too.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    check_regular(path)?;
    let f = std::fs::File::open(path).map_err(|e| from_io(&e))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| from_io(&e))?;
    if buf.len() as u64 > limit {
        return Err(FileError::TooBig(limit_text(limit)));
    }
    Ok(buf)
}

/// Like `read_capped`, as UTF-8 text.
pub fn read_text_capped(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_capped(path, limit)?)
        .map_err(|_| FileError::Other("not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn each_reason_is_named_truly() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            read_capped(&d.path().join("nope"), 10),
            Err(FileError::Missing)
        );
        assert_eq!(read_capped(d.path(), 10), Err(FileError::Directory));
        assert_eq!(
            read_capped(Path::new("/dev/null"), 10),
            Err(FileError::NotRegular("a character device"))
        );
        let fifo = d.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert_eq!(
            read_capped(&fifo, 10),
            Err(FileError::NotRegular("a FIFO")),
            "a FIFO is refused, never opened (it would block)"
        );
        let big = d.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert_eq!(
            read_capped(&big, 1024),
            Err(FileError::TooBig("1 KiB".into()))
        );
        assert_eq!(read_capped(&big, 2048).unwrap().len(), 2048);
        assert_eq!(
            FileError::TooBig("1 KiB".into()).to_string(),
            "is over the 1 KiB limit; not read"
        );
    }

    #[test]
    fn permission_denied_is_not_called_missing() {
        if std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false)
        {
            // root reads any file whatever its mode: as root, check the mapping alone.
            assert_eq!(
                from_io(&std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
                FileError::Denied
            );
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("secret");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert_eq!(read_capped(&f, 10), Err(FileError::Denied));
    }
}
