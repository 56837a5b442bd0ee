//! Which files a scan may read: only under the allowed directories. A path is refused
//! when it has a `..` component, when it (after symlinks are resolved) is not under an
//! allowed directory, or when it is not a regular file of a known kind within the size
//! bound. `-r`/`-c` includes are resolved relative to the including file and pass the
//! same check, so a symlink or an include cannot lead out.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use super::requirements::{IncludeLoader, Located};
use super::{FileKind, Limits, ParsedProject};
use crate::cancel::CancelFlag;

/// The directories a scan may read under (or a download may write into),
/// canonicalised.
#[derive(Clone, Debug, Default)]
pub struct AllowedRoots {
    roots: Vec<PathBuf>,
    /// Configured directories that do not exist or cannot be read.
    pub unusable: Vec<String>,
    purpose: Purpose,
}

/// What the roots allow, which the refusals name with their configuration key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Purpose {
    /// `scan.allowed_dirs`: files read by `scan_dependencies`.
    #[default]
    Scan,
    /// `download.allowed_dirs`: files written by `download_package`.
    Download,
}

/// Why a path is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRefused {
    /// The path as given (cut).
    pub path: String,
    /// The rule it breaks.
    pub rule: String,
}

impl AllowedRoots {
    /// Canonicalises `dirs`; the ones that cannot be used are listed in `unusable`.
    pub fn new(dirs: &[PathBuf]) -> Self {
        Self::canonical(dirs, Purpose::Scan)
    }

    /// The directories downloads may be written into (`download.allowed_dirs`).
    pub fn for_downloads(dirs: &[PathBuf]) -> Self {
        Self::canonical(dirs, Purpose::Download)
    }

    fn canonical(dirs: &[PathBuf], purpose: Purpose) -> Self {
        let mut out = AllowedRoots {
            purpose,
            ..AllowedRoots::default()
        };
        for d in dirs {
            match d.canonicalize() {
                Ok(c) if c.is_dir() => out.roots.push(c),
                _ => out.unusable.push(d.display().to_string()),
            }
        }
        out
    }

    /// Whether no directory is allowed (paths are refused; content still works).
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The allowed directories.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.roots
    }

    fn refuse(path: &Path, rule: impl Into<String>) -> PathRefused {
        PathRefused {
            path: super::clip(&path.display().to_string()),
            rule: rule.into(),
        }
    }

    /// The canonical form of `path` (relative ones resolved against the first allowed
    /// directory) if it is under an allowed directory.
    pub fn check(&self, path: &Path) -> Result<PathBuf, PathRefused> {
        if self.roots.is_empty() {
            return Err(Self::refuse(
                path,
                match self.purpose {
                    Purpose::Scan => {
                        "no directory is allowed for scanning (set scan.allowed_dirs in the configuration); pass the file's content instead"
                    }
                    Purpose::Download => {
                        "no directory is allowed for downloads (set download.allowed_dirs in the configuration)"
                    }
                },
            ));
        }
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(Self::refuse(path, "must not contain `..`"));
        }
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.roots[0].join(path)
        };
        self.under_root(&joined, path)
    }

    /// The allowed directory `canonical` (a path [`check`](Self::check) returned) is
    /// under.
    pub fn root_of(&self, canonical: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .find(|r| canonical.starts_with(r))
            .map(PathBuf::as_path)
    }

    fn under_root(&self, joined: &Path, shown: &Path) -> Result<PathBuf, PathRefused> {
        let canonical = match joined.canonicalize() {
            Ok(c) => c,
            // Whether a path that cannot be opened is outside is decided on its
            // deepest ancestor that exists: a path outside is refused with the same
            // words whether it exists or not, so a refusal tells nothing about it.
            Err(_) if !self.ancestor_inside(joined) => return Err(self.outside(shown)),
            Err(e) => {
                return Err(Self::refuse(
                    shown,
                    format!("cannot be opened: {}", io_words(&e)),
                ));
            }
        };
        if !self.roots.iter().any(|r| canonical.starts_with(r)) {
            return Err(self.outside(shown));
        }
        Ok(canonical)
    }

    fn ancestor_inside(&self, path: &Path) -> bool {
        path.ancestors()
            .skip(1)
            .find_map(|a| a.canonicalize().ok())
            .is_some_and(|c| self.roots.iter().any(|r| c.starts_with(r)))
    }

    fn outside(&self, shown: &Path) -> PathRefused {
        Self::refuse(
            shown,
            match self.purpose {
                Purpose::Scan => {
                    "is outside the directories allowed for scanning (scan.allowed_dirs), after symbolic links are resolved"
                }
                Purpose::Download => {
                    "is outside the directories allowed for downloads (download.allowed_dirs), after symbolic links are resolved"
                }
            },
        )
    }

    /// Reads a file that passed [`check`](Self::check), bounded by `limits`.
    pub fn read(
        &self,
        canonical: &Path,
        shown: &Path,
        limits: &Limits,
    ) -> Result<String, PathRefused> {
        let meta = std::fs::metadata(canonical).map_err(|e| Self::refuse(shown, io_words(&e)))?;
        if !meta.is_file() {
            return Err(Self::refuse(shown, "is not a regular file"));
        }
        if meta.len() > limits.max_file_bytes {
            return Err(Self::refuse(
                shown,
                format!(
                    "is {} bytes, more than the {} bytes a scan reads",
                    meta.len(),
                    limits.max_file_bytes
                ),
            ));
        }
        let mut buf = Vec::new();
        std::fs::File::open(canonical)
            .and_then(|f| f.take(limits.max_file_bytes + 1).read_to_end(&mut buf))
            .map_err(|e| Self::refuse(shown, io_words(&e)))?;
        if buf.len() as u64 > limits.max_file_bytes {
            return Err(Self::refuse(shown, "grew past the size bound while read"));
        }
        String::from_utf8(buf).map_err(|_| Self::refuse(shown, "is not UTF-8 text"))
    }
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Finds `-r`/`-c` targets relative to the including file, under the allowed roots.
struct PathLoader<'a> {
    roots: &'a AllowedRoots,
    limits: &'a Limits,
    /// label -> canonical path of the files found so far.
    labels: Vec<(String, PathBuf)>,
    base: PathBuf,
    root: Option<String>,
}

impl PathLoader<'_> {
    fn label(&self, canonical: &Path) -> String {
        canonical
            .strip_prefix(&self.base)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| canonical.display().to_string())
    }
}

impl IncludeLoader for PathLoader<'_> {
    fn locate(&mut self, from: &str, target: &str) -> Result<Located, String> {
        if target.contains("://") {
            return Err("a URL include is not fetched".into());
        }
        let from_path = self
            .labels
            .iter()
            .find(|(l, _)| l == from)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| "the including file is unknown".to_string())?;
        let dir = from_path.parent().unwrap_or(Path::new("/"));
        let target_path = Path::new(target);
        let joined = if target_path.is_absolute() {
            target_path.to_path_buf()
        } else {
            dir.join(target_path)
        };
        let canonical = self
            .roots
            .under_root(&joined, target_path)
            .map_err(|r| format!("{} {}", r.path, r.rule))?;
        let label = self.label(&canonical);
        if !self.labels.iter().any(|(l, _)| *l == label) {
            self.labels.push((label.clone(), canonical.clone()));
        }
        Ok(Located {
            label,
            key: canonical.display().to_string(),
        })
    }

    fn read(&mut self, at: &Located) -> Result<String, String> {
        self.roots
            .read(Path::new(&at.key), Path::new(&at.label), self.limits)
            .map_err(|r| format!("{} {}", r.path, r.rule))
    }

    fn root_key(&self) -> Option<String> {
        self.root.clone()
    }
}

/// The project files scanned in a directory (not recursive).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let lower = name.to_ascii_lowercase();
            match FileKind::from_filename(name) {
                Some(FileKind::Requirements) => {
                    lower.starts_with("requirements") && lower.ends_with(".txt")
                }
                Some(_) => true,
                None => false,
            }
        })
        .collect();
    out.sort();
    out
}

/// Reads the project at `path` (a file of a known kind, or a directory whose known
/// files are all read) under `roots`.
/// Each file is read at most once per scan (an include of a file the directory also
/// holds is not read again). Stops early when `cancel` is raised.
pub fn scan_path(
    roots: &AllowedRoots,
    path: &Path,
    limits: &Limits,
    cancel: &CancelFlag,
) -> Result<ParsedProject, PathRefused> {
    let canonical = roots.check(path)?;
    let (base, files) = if canonical.is_dir() {
        let files = files_in(&canonical);
        if files.is_empty() {
            return Err(AllowedRoots::refuse(
                path,
                format!(
                    "is a directory with none of the files a scan reads ({})",
                    FileKind::KNOWN
                ),
            ));
        }
        (canonical.clone(), files)
    } else {
        let base = canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        (base, vec![canonical.clone()])
    };
    let mut out = ParsedProject::default();
    let mut loader = PathLoader {
        roots,
        limits,
        labels: Vec::new(),
        base: base.clone(),
        root: None,
    };
    for f in files.into_iter().take(limits.max_files) {
        if out.should_stop(path.to_str().unwrap_or(""), cancel) {
            break;
        }
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(kind) = FileKind::from_filename(name) else {
            return Err(AllowedRoots::refuse(
                path,
                format!("is not a file a scan reads ({})", FileKind::KNOWN),
            ));
        };
        // A symlink inside the directory must not lead out either.
        let f = match roots.under_root(&f, &f) {
            Ok(c) => c,
            Err(r) => {
                out.problem(name, 0, "", format!("not read: {}", r.rule));
                continue;
            }
        };
        let label = f
            .strip_prefix(&base)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| name.to_string());
        let key = f.display().to_string();
        if out.tally.read.contains(&key) {
            out.note(format!(
                "{label} was already read (included by another file): not read again"
            ));
            continue;
        }
        out.tally.read.insert(key.clone());
        let content = match roots.read(&f, Path::new(&label), limits) {
            Ok(c) => c,
            Err(r) if files_is_single(&canonical) => return Err(r),
            Err(r) => {
                out.problem(&label, 0, "", format!("not read: {}", r.rule));
                continue;
            }
        };
        if !loader.labels.iter().any(|(l, _)| *l == label) {
            loader.labels.push((label.clone(), f.clone()));
        }
        loader.root = Some(key);
        super::parse_into(
            &mut out,
            &label,
            kind,
            &content,
            limits,
            Some(&mut loader),
            cancel,
        );
    }
    out.finish();
    Ok(out)
}

fn files_is_single(canonical: &Path) -> bool {
    !canonical.is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_roots_refuses_every_path() {
        let r = AllowedRoots::new(&[]);
        assert!(
            r.check(Path::new("/etc/passwd"))
                .unwrap_err()
                .rule
                .contains("no directory")
        );
    }

    #[test]
    fn dotdot_symlinks_and_outside_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("requirements.txt"), "requests\n").unwrap();
        std::fs::write(
            root.path().join("requirements.txt"),
            "-r ../escape.txt\nflask\n",
        )
        .unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            outside.path().join("requirements.txt"),
            root.path().join("requirements-link.txt"),
        )
        .unwrap();
        let roots = AllowedRoots::new(&[root.path().to_path_buf()]);
        let limits = Limits::default();
        assert!(
            roots
                .check(Path::new("a/../requirements.txt"))
                .unwrap_err()
                .rule
                .contains("..")
        );
        assert!(
            scan_path(
                &roots,
                &outside.path().join("requirements.txt"),
                &limits,
                &CancelFlag::never()
            )
            .unwrap_err()
            .rule
            .contains("outside")
        );
        #[cfg(unix)]
        assert!(
            scan_path(
                &roots,
                &root.path().join("requirements-link.txt"),
                &limits,
                &CancelFlag::never()
            )
            .unwrap_err()
            .rule
            .contains("outside")
        );
        let p = scan_path(
            &roots,
            Path::new("requirements.txt"),
            &limits,
            &CancelFlag::never(),
        )
        .unwrap();
        assert_eq!(p.dependencies[0].name, "flask");
        assert!(
            p.problems[0].reason.contains("include not followed"),
            "{:?}",
            p.problems
        );
    }
}
