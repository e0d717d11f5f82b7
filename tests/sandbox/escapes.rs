//! Escape attempts, counted: each tries to write outside the root, reach the network, or
//! touch a process outside; none may succeed. Run against every backend available here.
//!
//! An attempt counts as an escape when its command prints `ESCAPED`, or when any check
//! from outside notices it: the outside dir changed, a path that must stay absent exists,
//! the root was renamed, the TCP listener accepted, the UDP socket received, or the
//! victim process died.

use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use crate::common::{fixture, snapshot, Fixture, CONFINED};

struct Attempt {
    name: &'static str,
    command: String,
    must_stay_absent: Vec<PathBuf>,
}

struct World {
    tcp: TcpListener,
    udp: UdpSocket,
    victim: Child,
}

impl World {
    fn new() -> World {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let victim = Command::new("sleep").arg("300").spawn().unwrap();
        World { tcp, udp, victim }
    }

    /// What leaked out since the last call, if anything.
    fn breaches(&mut self) -> Vec<&'static str> {
        let mut found = Vec::new();
        match self.tcp.accept() {
            Ok(_) => found.push("tcp accepted"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        let mut buf = [0u8; 64];
        if self.udp.recv_from(&mut buf).is_ok() {
            found.push("udp received");
        }
        if self.victim.try_wait().unwrap().is_some() {
            found.push("victim process died");
        }
        found
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.victim.kill();
        let _ = self.victim.wait();
    }
}

fn attempts(f: &Fixture, world: &World, python: bool) -> Vec<Attempt> {
    let root = f.root();
    let o = f.outside();
    let (r, od) = (root.display(), o.display());
    let o_name = o.file_name().unwrap().to_string_lossy().into_owned();
    let tag = format!("lucid-escape-{}", std::process::id());
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()));
    let tcp = world.tcp.local_addr().unwrap().port();
    let udp = world.udp.local_addr().unwrap().port();
    let victim = world.victim.id();
    let me = std::process::id();
    let a = |name, command: String| Attempt {
        name,
        command: format!("{command} && echo ESCAPED"),
        must_stay_absent: Vec::new(),
    };
    // Judged only by the effect outside: inside bubblewrap these may succeed against
    // private copies (its own /dev, /tmp view, network namespace) without reaching out.
    let absent = |name, command: String, path: PathBuf| Attempt {
        name,
        command,
        must_stay_absent: vec![path],
    };
    let effect = |name, command: String| Attempt {
        name,
        command,
        must_stay_absent: Vec::new(),
    };
    let mut list = vec![
        a("absolute path outside", format!("echo x > {od}/abs.txt")),
        a(
            "append to outside file",
            format!("echo x >> {od}/victim.txt"),
        ),
        a("truncate via redirect", format!(": > {od}/victim.txt")),
        a(
            "../ from the root",
            format!("cd {r} && echo x > ../{o_name}/dotdot.txt"),
        ),
        a(
            "symlink dir then write",
            format!("ln -s {od} sl1 && echo x > sl1/through.txt"),
        ),
        a(
            "symlink file then write",
            format!("ln -s {od}/victim.txt sl2 && echo x > sl2"),
        ),
        a(
            "symlink then cd and write",
            format!("ln -s {od} sl3 && cd sl3 && echo x > cd.txt"),
        ),
        a(
            "hardlink out",
            format!("echo x > h1 && ln h1 {od}/hard.txt"),
        ),
        a(
            "hardlink in then write",
            format!("ln {od}/victim.txt h2 && echo x >> h2"),
        ),
        a("mv out", format!("echo x > m1 && mv m1 {od}/moved.txt")),
        a("mv outside file in", format!("mv {od}/victim.txt m2")),
        a("cp out", format!("echo x > c1 && cp c1 {od}/copied.txt")),
        a("tee", format!("echo x | tee {od}/tee.txt")),
        a(
            "dd notrunc",
            format!("dd if=/dev/zero of={od}/victim.txt bs=1 count=1 conv=notrunc"),
        ),
        a("truncate(1)", format!("truncate -s 0 {od}/victim.txt")),
        a(
            "sed -i",
            format!("sed -i s/original/pwned/ {od}/victim.txt"),
        ),
        a(
            "rm outside file",
            format!("rm -f {od}/victim.txt && test ! -e {od}/victim.txt"),
        ),
        a("mkdir outside", format!("mkdir {od}/newdir")),
        a("mkfifo outside", format!("mkfifo {od}/fifo")),
        a(
            "symlink created outside",
            format!("ln -s /etc/passwd {od}/sym"),
        ),
        a("mktemp outside", format!("mktemp -p {od}")),
        a(
            "cd outside then write",
            format!("cd {od} && echo x > cwd.txt"),
        ),
        a(
            "/proc/self/cwd/..",
            format!("echo x > /proc/self/cwd/../{o_name}/proc.txt"),
        ),
        a(
            "/proc/<test pid>/root",
            format!("echo x > /proc/{me}/root{od}/procroot.txt"),
        ),
        a(
            "find -exec",
            format!("find . -maxdepth 0 -exec sh -c 'echo x > {od}/find.txt' sh {{}} +"),
        ),
        a("mount over outside", format!("mount -t tmpfs none {od}")),
        a(
            "bind-mount root over outside",
            format!("mount --bind {r} {od}"),
        ),
        absent(
            "cd /tmp && touch",
            format!("cd /tmp && touch {tag}-tmp"),
            format!("/tmp/{tag}-tmp").into(),
        ),
        absent(
            "write to /dev/shm",
            format!("echo x > /dev/shm/{tag}-shm"),
            format!("/dev/shm/{tag}-shm").into(),
        ),
        absent(
            "write to $HOME",
            format!("echo x > $HOME/{tag}-home"),
            home.join(format!("{tag}-home")),
        ),
        absent(
            "block device in root",
            format!("mknod {r}/blk b 7 0"),
            root.join("blk"),
        ),
        absent(
            "rename the root",
            format!("mv {r} {r}-renamed"),
            format!("{r}-renamed").into(),
        ),
        a("kill a process outside", format!("kill -9 {victim}")),
        a(
            "tcp via bash /dev/tcp",
            format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{tcp}'"),
        ),
        effect(
            "udp via bash /dev/udp",
            format!("bash -c 'echo hi > /dev/udp/127.0.0.1/{udp}'"),
        ),
        a(
            "remount / read-write",
            format!("mount -o remount,rw / ; echo x > {od}/remount.txt"),
        ),
    ];
    if python {
        let py = |name, code: String| Attempt {
            name,
            command: format!("python3 -c \"{code}\" && echo ESCAPED"),
            must_stay_absent: Vec::new(),
        };
        list.extend([
            py("python open()", format!("open('{od}/py.txt', 'w').write('x')")),
            py("python os.rename", format!("import os; os.rename('{od}/victim.txt', '{od}/r.txt')")),
            py("python openat on outside dir fd", format!("import os; d = os.open('{od}', os.O_RDONLY); os.open('at.txt', os.O_CREAT | os.O_WRONLY, dir_fd=d)")),
            py("python symlink then open", format!("import os; os.symlink('{od}', 'pysl'); open('pysl/pysl.txt', 'w')")),
            py("python tcp connect", format!("import socket; socket.create_connection(('127.0.0.1', {tcp}), timeout=2)")),
            effect("python udp sendto", format!("python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.1', {udp}))\"")),
            py("python tcp to the outside world", "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)".to_string()),
        ]);
    }
    list
}

fn reset_outside(f: &Fixture) {
    let o = f.outside();
    let _ = Command::new("umount").arg(&o).output();
    for entry in std::fs::read_dir(&o).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    std::fs::write(o.join("victim.txt"), "original").unwrap();
}

#[tokio::test]
async fn escape_attempts_are_all_blocked() {
    for mode in CONFINED {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        let mut world = World::new();
        let python = f.sh("python3 -c 'print(6 * 7)'").await.stdout == "42\n";
        if !python {
            eprintln!(
                "{backend}: python3 unavailable in the sandbox, its attempts are not counted"
            );
        }
        let baseline = snapshot(&f.outside());
        let list = attempts(&f, &world, python);
        let mut escapes = Vec::new();
        for attempt in &list {
            let out = f.sh(&attempt.command).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut why: Vec<String> = world.breaches().into_iter().map(String::from).collect();
            if out.stdout.contains("ESCAPED") {
                why.push("command succeeded".into());
            }
            if snapshot(&f.outside()) != baseline {
                why.push("outside dir changed".into());
                reset_outside(&f);
            }
            for path in &attempt.must_stay_absent {
                if path.exists() || path.is_symlink() {
                    why.push(format!("{} exists", path.display()));
                }
            }
            if !f.root().is_dir() {
                why.push("root vanished".into());
            }
            if !why.is_empty() {
                escapes.push(format!(
                    "{}: {} ({})",
                    attempt.name,
                    why.join(", "),
                    out.render()
                ));
            }
        }
        eprintln!(
            "sandbox escapes: {} of {} attempts ({backend})",
            escapes.len(),
            list.len()
        );
        assert!(list.len() >= 30);
        assert!(
            escapes.is_empty(),
            "{backend}: escapes:\n{}",
            escapes.join("\n")
        );
    }
}

/// Known Landlock gaps, printed rather than asserted so they stay visible: file metadata
/// (mode, owner, times) is not governed by Landlock, and a process that calls `setsid`
/// leaves the process group the time limit kills (it stays confined). Bubblewrap's
/// read-only mounts and PID namespace close both, which is asserted.
#[tokio::test]
async fn known_gaps_are_reported() {
    for mode in CONFINED {
        let Some(f) = fixture(mode, false) else {
            continue;
        };
        let backend = f.sandbox.backend();
        let victim = f.outside().join("victim.txt");
        let out = f
            .sh(&format!("chmod 600 {} && echo CHANGED", victim.display()))
            .await;
        let chmod = out.stdout.contains("CHANGED");
        let late = f.root().join("late");
        let mut spec = lucid_core::sandbox::CommandSpec::shell(format!(
            "setsid sh -c 'sleep 1; touch {}' </dev/null >/dev/null 2>&1 & sleep 100",
            late.display()
        ));
        spec.timeout = Duration::from_millis(300);
        f.sandbox.run(spec, std::future::pending()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let survived = late.exists();
        let say = |gap: bool| {
            if gap {
                "allowed (known gap)"
            } else {
                "blocked"
            }
        };
        eprintln!(
            "{backend}: chmod on an outside file the caller owns: {}",
            say(chmod)
        );
        eprintln!(
            "{backend}: a setsid process outliving the time limit: {}",
            say(survived)
        );
        if mode == crate::SandboxMode::Bubblewrap {
            assert!(!chmod && !survived);
        }
    }
}
