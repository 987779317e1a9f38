//! `local:///path` sources: files under `IMGPROXY_LOCAL_FILESYSTEM_ROOT` and nowhere else (SPEC §4).
//!
//! The root is canonicalised once at start-up; each request's path is refused if it has `..`
//! components, and the canonical target (symlinks resolved) must still lie under the root, so neither
//! `..` nor a symlink can escape. Reads are capped at the byte limit. Knows nothing of URLs or HTTP.

use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::{Fetched, SourceError};

/// Reads files below one canonical root directory.
#[derive(Clone, Debug)]
pub struct LocalRoot {
    root: PathBuf,
}

impl LocalRoot {
    /// Canonicalises `root`; fails when it does not exist or is not a directory (a start-up error).
    pub fn new(root: &Path) -> Result<LocalRoot, String> {
        let canonical =
            std::fs::canonicalize(root).map_err(|e| format!("local filesystem root {}: {e}", root.display()))?;
        if !canonical.is_dir() {
            return Err(format!("local filesystem root {} is not a directory", root.display()));
        }
        Ok(LocalRoot { root: canonical })
    }

    /// Maps a source path (`/a/b.png`, relative to the root) to its canonical file under the root.
    pub async fn resolve(&self, path: &str) -> Result<PathBuf, SourceError> {
        let relative = checked_relative(path)?;
        let joined = self.root.join(relative);
        let canonical = match tokio::fs::canonicalize(&joined).await {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SourceError::NotFound),
            Err(e) => return Err(SourceError::Read(e.to_string())),
        };
        // A symlink may point anywhere; only its resolved target counts (SPEC §4 "symlink escapes").
        if !canonical.starts_with(&self.root) {
            return Err(SourceError::NotAllowed(format!("local:/{path} leaves the filesystem root")));
        }
        Ok(canonical)
    }

    /// Reads the file named by `path`, refusing more than `max_bytes` (0 = unlimited).
    pub async fn fetch(&self, path: &str, max_bytes: u64) -> Result<Fetched, SourceError> {
        let file_path = self.resolve(path).await?;
        let file = tokio::fs::File::open(&file_path).await.map_err(open_error)?;
        let meta = file.metadata().await.map_err(|e| SourceError::Read(e.to_string()))?;
        if !meta.is_file() {
            return Err(SourceError::NotFound);
        }
        if max_bytes > 0 && meta.len() > max_bytes {
            return Err(SourceError::TooLarge { limit: max_bytes });
        }
        let bytes = read_capped(file, meta.len(), max_bytes).await?;
        Ok(Fetched { bytes: bytes.into(), ..Fetched::default() })
    }
}

/// The path as plain relative components: `..` is refused outright rather than normalised, and a
/// leading `/` (as in `local:///a.png`) means "from the root".
fn checked_relative(path: &str) -> Result<PathBuf, SourceError> {
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(SourceError::NotAllowed(format!("local path {path:?} has `..`")));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(SourceError::NotFound);
    }
    Ok(out)
}

fn open_error(e: std::io::Error) -> SourceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound,
        _ => SourceError::Read(e.to_string()),
    }
}

/// Reads at most `max_bytes + 1` bytes, so a file that grew after the size check is still refused.
async fn read_capped(file: tokio::fs::File, size_hint: u64, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
    let limit = if max_bytes == 0 { u64::MAX } else { max_bytes.saturating_add(1) };
    let mut bytes = Vec::with_capacity(usize::try_from(size_hint.min(limit)).unwrap_or(0));
    file.take(limit).read_to_end(&mut bytes).await.map_err(|e| SourceError::Read(e.to_string()))?;
    if max_bytes > 0 && bytes.len() as u64 > max_bytes {
        return Err(SourceError::TooLarge { limit: max_bytes });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed on drop; the root is a subdirectory so escapes have somewhere to go.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> (Scratch, PathBuf) {
        let base = std::env::temp_dir().join(format!("lmp-local-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.png"), b"0123456789").unwrap();
        std::fs::write(root.join("sub/b.png"), b"bb").unwrap();
        std::fs::write(base.join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("escape.png")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/b.png"), root.join("inside.png")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("up")).unwrap();
        (Scratch(base), root)
    }

    /// What a row expects: the file's bytes, or the error's kind.
    #[derive(Debug)]
    enum Expect {
        Bytes(&'static [u8]),
        NotAllowed,
        NotFound,
        TooLarge(u64),
    }

    fn meets(got: &Result<Fetched, SourceError>, want: &Expect) -> bool {
        match (got, want) {
            (Ok(f), Expect::Bytes(b)) => &f.bytes[..] == *b,
            (Err(SourceError::NotAllowed(_)), Expect::NotAllowed) => true,
            (Err(SourceError::NotFound), Expect::NotFound) => true,
            (Err(SourceError::TooLarge { limit }), Expect::TooLarge(want)) => limit == want,
            _ => false,
        }
    }

    #[tokio::test]
    async fn local_fetch_table() {
        use Expect::*;
        let (_guard, root) = scratch("table");
        let local = LocalRoot::new(&root).unwrap();
        let rows: &[(&str, &str, u64, Expect)] = &[
            ("file at the root", "/a.png", 0, Bytes(b"0123456789")),
            ("file in a subdirectory", "/sub/b.png", 0, Bytes(b"bb")),
            ("path without leading slash", "sub/b.png", 0, Bytes(b"bb")),
            ("symlink staying inside", "/inside.png", 0, Bytes(b"bb")),
            ("dot-dot refused", "/../secret.txt", 0, NotAllowed),
            ("dot-dot in the middle refused", "/sub/../a.png", 0, NotAllowed),
            ("symlink escaping refused", "/escape.png", 0, NotAllowed),
            ("symlinked directory escaping refused", "/up/secret.txt", 0, NotAllowed),
            ("missing file", "/nope.png", 0, NotFound),
            ("directory is not a file", "/sub", 0, NotFound),
            ("empty path", "/", 0, NotFound),
            ("exactly at the cap", "/a.png", 10, Bytes(b"0123456789")),
            ("over the cap", "/a.png", 9, TooLarge(9)),
        ];
        for (name, path, cap, want) in rows {
            let got = local.fetch(path, *cap).await;
            assert!(meets(&got, want), "{name}: {path} -> {got:?}, want {want:?}");
        }
    }

    #[test]
    fn missing_root_is_a_startup_error() {
        assert!(LocalRoot::new(Path::new("/definitely/not/here/lmp")).is_err());
    }

    #[tokio::test]
    async fn growing_file_is_still_capped() {
        let (_guard, root) = scratch("grow");
        let file = tokio::fs::File::open(root.join("a.png")).await.unwrap();
        // The size hint says 3 bytes, but the file holds 10: the cap, not the hint, decides.
        let got = read_capped(file, 3, 5).await;
        assert_eq!(got, Err(SourceError::TooLarge { limit: 5 }));
    }
}
