//! Paths inside a container's root filesystem, resolved as the container would see them.
//!
//! The rootfs is container-controlled: a symlink planted inside may point at `/etc` and
//! mean the container's `/etc`, never the host's. Every lookup goes through
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, which the kernel resolves with the
//! rootfs as `/` and without races, and every create happens relative to such a resolved
//! parent with `O_NOFOLLOW`.

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Splits a container path into its parent and last component (`/` has none).
fn split(path: &Path) -> (PathBuf, Option<std::ffi::OsString>) {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let last = parts.pop().map(|s| s.to_os_string());
    (parts.iter().collect(), last)
}

impl RootDir {
    pub fn open(path: &Path) -> io::Result<RootDir> {
        let fd = rfs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(RootDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn host_path(&self) -> &Path {
        &self.path
    }

    /// Opens a path inside the root (following symlinks inside it).
    pub fn open_at(&self, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        // openat2 with RESOLVE_IN_ROOT answers EAGAIN when a mount or rename anywhere
        // on the machine raced the lookup (other containers starting): try again.
        let mut tries = 0;
        loop {
            match rfs::openat2(
                &self.fd,
                rel,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                RESOLVE,
            ) {
                Err(rustix::io::Errno::AGAIN) if tries < 100 => tries += 1,
                r => return r.map_err(errno),
            }
        }
    }

    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let fd = self.open_at(path, OFlags::RDONLY)?;
        let mut f = File::from(fd);
        let mut v = Vec::new();
        io::Read::read_to_end(&mut f, &mut v)?;
        Ok(v)
    }

    /// The first `n` bytes of a file (fewer if it is shorter).
    pub fn read_head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let fd = self.open_at(path, OFlags::RDONLY)?;
        let mut buf = Vec::with_capacity(n);
        File::from(fd).take(n as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.open_at(path, OFlags::PATH).is_ok()
    }

    /// Whether `path` is a directory inside the root.
    pub fn is_dir(&self, path: &Path) -> bool {
        self.stat(path)
            .is_ok_and(|st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory)
    }

    /// Metadata of the path, following symlinks inside the root.
    pub fn stat(&self, path: &Path) -> io::Result<rfs::Stat> {
        let fd = self.open_at(path, OFlags::PATH)?;
        rfs::fstat(&fd).map_err(errno)
    }

    /// Creates every missing directory of `path` (mode 0755) and returns the last one.
    pub fn mkdir_all(&self, path: &Path) -> io::Result<OwnedFd> {
        let mut cur = self.open_at(Path::new("/"), OFlags::DIRECTORY | OFlags::RDONLY)?;
        let mut walked = PathBuf::from("/");
        for c in path.components() {
            let Component::Normal(name) = c else { continue };
            walked.push(name);
            match rfs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(errno(e)),
            }
            // Re-resolve from the root so a symlinked component stays inside it.
            cur = self.open_at(&walked, OFlags::DIRECTORY | OFlags::RDONLY)?;
        }
        Ok(cur)
    }

    /// The directory that will hold `path`, and the name to create in it.
    pub fn parent_of(&self, path: &Path) -> io::Result<(OwnedFd, std::ffi::OsString)> {
        let (parent, last) = split(path);
        let last = last
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the root has no parent"))?;
        let dir = self.open_at(
            &Path::new("/").join(parent),
            OFlags::DIRECTORY | OFlags::RDONLY,
        )?;
        Ok((dir, last))
    }

    /// Creates (or truncates) a regular file; never follows a symlink at `path` itself.
    pub fn create_file(&self, path: &Path, mode: u32) -> io::Result<File> {
        let (dir, name) = self.parent_of(path)?;
        match rfs::statat(&dir, &name, rfs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if rfs::FileType::from_raw_mode(st.st_mode) != rfs::FileType::RegularFile => {
                remove_at(&dir, &name)?;
            }
            _ => {}
        }
        let fd = rfs::openat(
            &dir,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(errno)?;
        Ok(File::from(fd))
    }
}

/// Removes a file, symlink or (recursively) directory named `name` in `dir`.
pub fn remove_at(dir: &impl AsFd, name: &std::ffi::OsStr) -> io::Result<()> {
    match rfs::unlinkat(dir, name, rfs::AtFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::ISDIR) => {
            let sub = rfs::openat(
                dir,
                name,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            let mut names = Vec::new();
            for e in rfs::Dir::read_from(&sub).map_err(errno)? {
                let e = e.map_err(errno)?;
                let n = e.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(std::ffi::OsString::from(
                        std::str::from_utf8(n).unwrap_or("").to_string(),
                    ));
                }
            }
            for n in names {
                remove_at(&sub, &n)?;
            }
            rfs::unlinkat(dir, name, rfs::AtFlags::REMOVEDIR).map_err(errno)
        }
        Err(e) => Err(errno(e)),
    }
}

/// A user resolved from the container's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Resolves `user[:group]` (names or numbers) as Docker does.
pub fn resolve_user(root: &RootDir, spec: &str) -> Result<ResolvedUser, String> {
    let passwd = String::from_utf8_lossy(&root.read(Path::new("/etc/passwd")).unwrap_or_default())
        .into_owned();
    let group = String::from_utf8_lossy(&root.read(Path::new("/etc/group")).unwrap_or_default())
        .into_owned();
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 6)
        .collect();
    let found = entries
        .iter()
        .find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let (uid, mut gid, name, home) = match (found, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| format!("bad uid in /etc/passwd for {u}"))?,
            f[3].parse::<u32>()
                .map_err(|_| format!("bad gid in /etc/passwd for {u}"))?,
            f[0].to_string(),
            f[5].to_string(),
        ),
        (None, Ok(n)) => (n, 0, String::new(), "/".to_string()),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        }
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = g {
        gid = match groups.iter().find(|f| f[0] == g) {
            Some(f) => f[2]
                .parse()
                .map_err(|_| format!("bad gid in /etc/group for {g}"))?,
            None => g.parse().map_err(|_| {
                format!("unable to find group {g}: no matching entries in group file")
            })?,
        };
    }
    let mut additional: Vec<u32> = Vec::new();
    if !name.is_empty() && g.is_none() {
        for f in &groups {
            if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
                if let Ok(id) = f[2].parse::<u32>() {
                    if id != gid && !additional.contains(&id) {
                        additional.push(id);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

/// Finds `cmd` in the container: 127 when it does not exist, 126 when it is not executable.
/// A script's `#!` line: the interpreter must exist, and a CRLF line ending (a script
/// saved on Windows) is named as the cause, not "no such file or directory".
fn check_interpreter(root: &RootDir, cmd: &str, path: &Path) -> Result<(), (i32, String)> {
    let Ok(head) = root.read_head(path, 256) else {
        return Ok(());
    };
    let Some(rest) = head.strip_prefix(b"#!") else {
        return Ok(());
    };
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    if line.ends_with(b"\r") {
        return Err((
            127,
            format!("exec: {cmd:?}: the script has Windows (CRLF) line endings, so its #! line names an interpreter that does not exist; convert it with dos2unix or `sed -i 's/\\r$//'`"),
        ));
    }
    let text = String::from_utf8_lossy(line);
    let interp = text.split_whitespace().next().unwrap_or("");
    if interp.starts_with('/') && root.stat(Path::new(interp)).is_err() {
        return Err((
            127,
            format!(
                "exec: {cmd:?}: its interpreter {interp} (from the #! line) is not in the image"
            ),
        ));
    }
    Ok(())
}

pub fn check_command(
    root: &RootDir,
    cmd: &str,
    path_env: Option<&str>,
    cwd: &str,
) -> Result<(), (i32, String)> {
    // Relative names (`scripts/run.sh`, a PATH entry `bin`) are the kernel's: relative to
    // the working directory the process starts in.
    let cwd = Path::new(if cwd.is_empty() { "/" } else { cwd });
    let candidates: Vec<PathBuf> = if cmd.contains('/') {
        vec![cwd.join(cmd)]
    } else {
        path_env
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .split(':')
            .map(|d| cwd.join(d).join(cmd))
            .collect()
    };
    for c in &candidates {
        if let Ok(st) = root.stat(c) {
            if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory {
                return Err((126, format!("exec: {cmd:?}: is a directory")));
            }
            if st.st_mode & 0o111 == 0 {
                return Err((126, format!("exec: {cmd:?}: permission denied")));
            }
            return check_interpreter(root, cmd, c);
        }
    }
    if cmd.contains('/') {
        Err((127, format!("exec: {cmd:?}: no such file or directory")))
    } else {
        Err((
            127,
            format!("exec: {cmd:?}: executable file not found in $PATH"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_root_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc", root.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../../../etc", root.join("evil2")).unwrap();
        let r = RootDir::open(&root).unwrap();
        // The planted symlinks resolve to the container's /etc, not the host's.
        assert!(
            String::from_utf8(r.read(Path::new("/evil/passwd")).unwrap())
                .unwrap()
                .contains("app:x:1000")
        );
        assert!(
            String::from_utf8(r.read(Path::new("evil2/passwd")).unwrap())
                .unwrap()
                .contains("app:x:1000")
        );
        let mut f = r.create_file(Path::new("/evil/written"), 0o644).unwrap();
        io::Write::write_all(&mut f, b"x").unwrap();
        assert!(root.join("etc/written").exists());
        let u = resolve_user(&r, "app").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone(), u.home.as_str()),
            (1000, 1000, vec![10], "/home/app")
        );
        assert_eq!(resolve_user(&r, "app:wheel").unwrap().gid, 10);
        assert_eq!(resolve_user(&r, "4242:4242").unwrap().uid, 4242);
        assert!(resolve_user(&r, "nobody").is_err());
        r.mkdir_all(Path::new("/evil/sub/dir")).unwrap();
        assert!(root.join("etc/sub/dir").is_dir());
    }
}
