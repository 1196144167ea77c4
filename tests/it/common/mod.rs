//! Test harness: the real binary, run through a symlink farm as an
//! unprivileged user with a HOME and XDG directories of its own.
//!
//! The test process itself runs as root (it builds namespaces and owns the
//! sandbox); every wg-wrap command runs as the user named by
//! `WG_WRAP_TEST_USER` (default `wgwrap-test`, created by `.ci/run`).
#![allow(dead_code)]

pub mod net;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest any one command may run before the test fails.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl User {
    /// The unprivileged test user; the test fails (never skips) without it.
    pub fn test() -> User {
        let name = std::env::var("WG_WRAP_TEST_USER").unwrap_or_else(|_| "wgwrap-test".into());
        User::named(&name)
    }

    /// The second unprivileged user, for tests of what users cannot do to each other.
    pub fn other() -> User {
        let name = std::env::var("WG_WRAP_TEST_USER2").unwrap_or_else(|_| "wgwrap-test2".into());
        User::named(&name)
    }

    pub fn named(name: &str) -> User {
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, name])
                .output()
                .expect("run id");
            assert!(
                out.status.success(),
                "test user {name:?} does not exist: create it as .ci/run does (useradd --create-home {name})"
            );
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let user = User {
            name: name.to_string(),
            uid: id("-u"),
            gid: id("-g"),
        };
        assert_ne!(user.uid, 0, "the test user must not be root");
        user
    }
}

/// A private directory tree for one test, removed on drop.
pub struct Sandbox {
    pub root: PathBuf,
    pub bin: PathBuf,
    pub home: PathBuf,
    pub runtime: PathBuf,
    pub user: User,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::for_user(User::test())
    }

    pub fn for_user(user: User) -> Sandbox {
        assert_eq!(
            rustix::process::geteuid().as_raw(),
            0,
            "the integration tests run as root (they make namespaces and run wg-wrap as {})",
            user.name
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = PathBuf::from(format!("/tmp/wgwrap-t{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let bin = root.join("bin");
        fs::create_dir(&bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        // A copy of the binary that the user can reach wherever the clone lives.
        let exe = bin.join("wg-wrap");
        fs::copy(env!("CARGO_BIN_EXE_wg-wrap"), &exe).unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        let sandbox = Sandbox {
            home: root.join("home"),
            runtime: root.join("run"),
            root,
            bin,
            user,
        };
        for dir in [&sandbox.home, &sandbox.runtime] {
            fs::create_dir(dir).unwrap();
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
            sandbox.chown(dir);
        }
        for applet in sandbox.applets() {
            if applet != "wg-wrap" {
                std::os::unix::fs::symlink("wg-wrap", sandbox.bin.join(&applet)).unwrap();
            }
        }
        sandbox
    }

    /// The applet table, as `wg-wrap --list` prints it.
    pub fn applets(&self) -> Vec<String> {
        let out = Command::new(self.bin.join("wg-wrap"))
            .arg("--list")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.user.uid), Some(self.user.gid)).unwrap();
    }

    /// A file of the user's in their HOME.
    pub fn user_file(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.home.join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        self.chown(&path);
        path
    }

    /// `$XDG_CONFIG_HOME/wg-wrap` of the user.
    pub fn store(&self) -> PathBuf {
        self.home.join(".config/wg-wrap")
    }

    /// An applet, run as the test user through its symlink.
    pub fn cmd(&self, applet: &str) -> Cmd {
        Cmd {
            program: self.bin.join(applet).into_os_string(),
            args: Vec::new(),
            env: vec![
                ("HOME".into(), self.home.clone().into_os_string()),
                (
                    "XDG_CONFIG_HOME".into(),
                    self.home.join(".config").into_os_string(),
                ),
                (
                    "XDG_RUNTIME_DIR".into(),
                    self.runtime.clone().into_os_string(),
                ),
                (
                    "PATH".into(),
                    format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display()).into(),
                ),
                ("LANG".into(), "C.UTF-8".into()),
            ],
            stdin: None,
            user: Some(self.user.clone()),
            cwd: self.home.clone(),
            netns: None,
            root_pre: Vec::new(),
            user_pre: Vec::new(),
        }
    }
}

impl Sandbox {
    /// Files (not directories) under the user's wg-wrap runtime directory.
    pub fn runtime_files(&self) -> Vec<String> {
        snapshot(&self.runtime.join("wg-wrap"))
            .into_iter()
            .filter(|(_, mode, _)| mode & 0o170000 != 0o040000)
            .map(|(path, _, _)| path.display().to_string())
            .collect()
    }

    /// Processes started from this sandbox (their environment names its
    /// HOME), whatever namespace they are in: pid and command line.
    pub fn processes(&self) -> Vec<(u32, String)> {
        let needle = format!("HOME={}", self.home.display());
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            if environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
            {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                found.push((pid, cmdline));
            }
        }
        found
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for (pid, _) in self.processes() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A command to run, as a user, with a clean environment.
#[derive(Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    user: Option<User>,
    cwd: PathBuf,
    netns: Option<String>,
    root_pre: Vec<OsString>,
    user_pre: Vec<OsString>,
}

#[derive(Debug)]
pub struct Out {
    /// The exit status, or 128 + signal as a shell reports it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cmd {
    /// Any program, run as the sandbox's user with its environment.
    pub fn from(sandbox: &Sandbox, program: &Path) -> Cmd {
        let mut cmd = sandbox.cmd("wg-wrap");
        cmd.program = program.as_os_str().to_os_string();
        cmd
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.as_ref().to_os_string()));
        self
    }

    /// Runs as root (no setpriv), e.g. for what wg-wrap does as real root.
    pub fn run_as_root(mut self) -> Self {
        self.user = None;
        self
    }

    /// Runs inside the named network namespace (entered as root, before setpriv).
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    pub fn stdin(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(bytes.as_ref().to_vec());
        self
    }

    /// The command line as it will run: `nsenter` into the netns, then
    /// `root_pre` (as root), then `setpriv` to the user, then `user_pre`
    /// (as the user), then the program.
    pub fn command(&self) -> Command {
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(ns) = &self.netns {
            argv.extend([
                "nsenter".into(),
                format!("--net=/run/netns/{ns}").into(),
                "--".into(),
            ]);
        }
        argv.extend(self.root_pre.iter().cloned());
        if let Some(user) = &self.user {
            argv.extend([
                "setpriv".into(),
                format!("--reuid={}", user.uid).into(),
                format!("--regid={}", user.gid).into(),
                "--clear-groups".into(),
                "--".into(),
            ]);
        }
        argv.extend(self.user_pre.iter().cloned());
        argv.push(self.program.clone());
        argv.extend(self.args.iter().cloned());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).env_clear().current_dir(&self.cwd);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the command in `dir` (default: the user's HOME).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = dir.into();
        self
    }

    /// Runs `argv` as root around the command (e.g. `unshare --mount sh -c ...`).
    pub fn root_pre(mut self, argv: &[&str]) -> Self {
        self.root_pre = argv.iter().map(OsString::from).collect();
        self
    }

    /// Runs the command in a mount namespace of the test's own, after `setup`
    /// (a shell script, as root) has rearranged what the "host" looks like
    /// there; the machine's real files stay as they are.
    pub fn in_host_layout(self, setup: &str) -> Self {
        let script = format!("set -e\n{setup}\nexec \"$@\"");
        self.root_pre(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
    }

    /// Runs the command, as the user, inside a user namespace of the user's
    /// own in which no further user namespace may be made
    /// (user.max_user_namespaces is per namespace): the machine stays as it is.
    pub fn without_user_namespaces(self) -> Self {
        self.user_pre(&[
            "unshare",
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"",
            "sh",
        ])
    }

    /// Runs `argv` as the user around the command.
    pub fn user_pre(mut self, argv: &[&str]) -> Self {
        self.user_pre = argv.iter().map(OsString::from).collect();
        self
    }

    /// Runs to completion (at most [`COMMAND_LIMIT`]) and collects the output.
    pub fn run(self) -> Out {
        self.spawn().wait()
    }

    /// Starts the command; its pid is PROG's once the chain has exec'd.
    pub fn spawn(self) -> Running {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn command");
        if let Some(bytes) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let read = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = r.read_to_end(&mut v);
                v
            })
        };
        let (out_t, err_t) = (read(Box::new(stdout)), read(Box::new(stderr)));
        Running {
            child,
            out_t,
            err_t,
            program: self.program,
        }
    }
}

/// A command started with [`Cmd::spawn`].
pub struct Running {
    pub child: std::process::Child,
    out_t: std::thread::JoinHandle<Vec<u8>>,
    err_t: std::thread::JoinHandle<Vec<u8>>,
    program: OsString,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the process (PROG, once the chain has exec'd).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (at most [`COMMAND_LIMIT`]) and collects the output.
    pub fn wait(self) -> Out {
        let mut child = self.child;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > COMMAND_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("command ran over {COMMAND_LIMIT:?}: {:?}", self.program);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let (out_t, err_t) = (self.out_t, self.err_t);
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Out {
            code,
            stdout: String::from_utf8_lossy(&out_t.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&err_t.join().unwrap()).into_owned(),
        }
    }
}

impl Out {
    /// Exit 0; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        &self.stdout
    }

    /// Exit `code` with exactly one line on stderr that contains `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &str {
        assert_eq!(self.code, code, "wrong exit status: {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {self:#?}");
        assert!(
            lines[0].contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        lines[0]
    }
}

/// Every file and directory under `dir`: path, mode and contents, sorted.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let contents = if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
            Vec::new()
        } else if meta.is_file() {
            fs::read(&path).unwrap()
        } else {
            Vec::new() // a socket or a fifo: no contents to compare
        };
        out.push((path, meta.permissions().mode(), contents));
    }
    out.sort();
    out
}

/// Fixed test keys (never used outside tests).
pub mod keys {
    pub const CLIENT_PRIVATE: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    pub const SERVER_PUBLIC: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
    pub const PRESHARED: &str = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=";
}

/// A valid profile with a preshared key.
pub fn sample_profile() -> String {
    format!(
        "[Interface]\nPrivateKey = {}\nAddress = 198.18.100.2/32, fd00:100::2/128\nDNS = 198.18.100.1\nMTU = 1400\n\n[Peer]\nPublicKey = {}\nPresharedKey = {}\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 198.18.0.1:51820\n",
        keys::CLIENT_PRIVATE,
        keys::SERVER_PUBLIC,
        keys::PRESHARED
    )
}
