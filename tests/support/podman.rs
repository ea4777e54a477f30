//! Podman for the container tests (tests/container.rs, tests/kube.rs): commands with the
//! repository's containers.conf, a probe of whether Podman can start a container here at all
//! (tried once per test binary), what a test made and removes when dropped, and the checks
//! that nothing of a stopped container is left.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::have;

/// The repository's top folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `program` with the repository's containers.conf unless CONTAINERS_CONF is set.
pub fn with_conf(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    if std::env::var_os("CONTAINERS_CONF").is_none() {
        c.env("CONTAINERS_CONF", repo().join("container/containers.conf"));
    }
    c
}

/// `podman`, with the repository's containers.conf unless CONTAINERS_CONF is set.
pub fn podman() -> Command {
    with_conf("podman")
}

/// `bytes` as text, invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `cmd`, panics unless it succeeds, returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A folder of its own under cargo's temporary folder, empty: PREFIX-NAME-PID.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies `program` and the libraries `ldd` lists for it into `root`, at the same paths.
pub fn stage_with_libraries(program: &str, root: &Path) {
    let ldd = ok(Command::new("ldd").arg(program));
    let mut files = vec![program.to_string()];
    for line in ldd.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [_, "=>", path, ..] if path.starts_with('/') => files.push(path.to_string()),
            [path, ..] if path.starts_with('/') => files.push(path.to_string()),
            _ => {}
        }
    }
    for f in files {
        let to = root.join(f.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(std::fs::canonicalize(&f).unwrap(), &to).unwrap();
    }
}

/// Whether Podman can start a container here at all: `/bin/true` from a root file system of
/// its own (no image, no registry), in a folder of this process's. Tried once for all the
/// tests of the binary (which run in parallel); prints why not at each call.
pub fn podman_works() -> bool {
    static WORKS: OnceLock<Result<(), String>> = OnceLock::new();
    match WORKS.get_or_init(try_podman) {
        Ok(()) => true,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            false
        }
    }
}

fn try_podman() -> Result<(), String> {
    if !have("podman") {
        return Err("podman is not installed (make deps installs podman and runc)".into());
    }
    let root = scratch("podman", "probe");
    stage_with_libraries("/bin/true", &root);
    let out = podman()
        .args(["run", "--rm", "--rootfs"])
        .arg(&root)
        .arg("/bin/true")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&root);
    if !out.status.success() {
        return Err(format!(
            "podman cannot start a trivial container here ({}): {}",
            out.status,
            text(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Whether `ssh` and `sshpass` are both installed.
pub fn have_ssh() -> bool {
    have("ssh") && have("sshpass")
}

/// What the SSH tests need: ssh, sshpass and a working Podman; says why when something is
/// missing.
pub fn ssh_and_podman() -> bool {
    if !have_ssh() {
        eprintln!("SKIPPED: ssh or sshpass is not installed (make deps installs them)");
        return false;
    }
    podman_works()
}

/// What a test made: removed when dropped, even after a failure, in this order.
#[derive(Default)]
pub struct Made {
    /// Containers, for `podman rm -f`.
    pub containers: Vec<String>,
    /// Played manifests, for `podman kube down`.
    pub manifests: Vec<PathBuf>,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
    pub dirs: Vec<PathBuf>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman().args(["rm", "-f", "-t", "0", c]).output();
        }
        for m in &self.manifests {
            let _ = podman().args(["kube", "down"]).arg(m).output();
        }
        for v in &self.volumes {
            let _ = podman().args(["volume", "rm", "-f", v]).output();
        }
        for i in &self.images {
            let _ = podman().args(["rmi", i]).output();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Made {
    /// Builds the image localhost/ast-emu-test-NAME-PID:latest from the binary under test
    /// with scripts/container-image, staged in `staging`; both are removed when dropped.
    /// Returns the image's name.
    pub fn build_image(&mut self, name: &str, staging: PathBuf) -> String {
        let image = format!(
            "localhost/ast-emu-test-{name}-{}:latest",
            std::process::id()
        );
        self.dirs.push(staging.clone());
        self.images.push(image.clone());
        ok(with_conf(repo().join("scripts/container-image"))
            .env("CONTAINER", "podman")
            .env("IMAGE", &image)
            .env("AST_EMU_BIN", env!("CARGO_BIN_EXE_ast-emu"))
            .env("STAGING", &staging));
        image
    }
}

/// The container's log: what it wrote to stdout, then to stderr.
pub fn logs(container: &str) -> String {
    let out = podman().args(["logs", container]).output().unwrap();
    text(&out.stdout) + &text(&out.stderr)
}

/// The last 3000 bytes of `s` or so (from a character boundary), for a failure's message.
pub fn tail(s: &str) -> String {
    let start = s.len().saturating_sub(3000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// The full ID of `container`.
pub fn container_id(container: &str) -> String {
    ok(podman().args(["inspect", "--format", "{{.Id}}", container]))
        .trim()
        .to_string()
}

/// Nothing is left of the container whose full ID is `id`: `podman ps -a` lists neither its
/// ID nor a name containing `name` (the message calls them `what`), no host process names
/// the ID (conmon), and `ports` are closed.
pub fn assert_gone(id: &str, name: &str, what: &str, ports: &[u16]) {
    let listed = ok(podman().args(["ps", "-a", "--format", "{{.ID}} {{.Names}}"]));
    assert!(
        !listed.contains(name) && !listed.contains(&id[..12]),
        "podman ps -a still lists {what}:\n{listed}"
    );
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = text(&cmdline).replace('\0', " ");
            assert!(
                !cmdline.contains(id),
                "process {:?} still runs for the container: {cmdline}",
                entry.file_name()
            );
        }
    }
    for port in ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "port {port} still answers"
        );
    }
}

/// `xz -dc from > to`.
pub fn decompress(from: &Path, to: &Path) {
    let out = std::fs::File::create(to).unwrap();
    let status = Command::new("xz")
        .arg("-dc")
        .arg(from)
        .stdout(out)
        .status()
        .unwrap();
    assert!(status.success(), "xz -dc {}", from.display());
}
