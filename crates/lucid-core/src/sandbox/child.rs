//! What a child does between `fork` and `exec`: die with its parent, leave the network,
//! and enforce the Landlock ruleset.
//!
//! Owns [`ChildSetup`], prepared in the parent (paths as C strings, uid/gid maps already
//! formatted, the ruleset fd already built) so that the closure run after `fork` makes only
//! async-signal-safe system calls: `prctl`, `getppid`, `unshare`, `open`, `write`, `close`,
//! `syscall`. It allocates nothing and takes no locks. It does not choose the backend or
//! build the ruleset (`landlock` does).

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;

/// How the child is cut off from the network when the policy forbids it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCut {
    /// Network allowed: nothing to do.
    Allowed,
    /// `unshare(CLONE_NEWNET)`: an empty network namespace (needs CAP_SYS_ADMIN).
    Namespace,
    /// `unshare(CLONE_NEWUSER | CLONE_NEWNET)` with the caller's ids mapped to themselves.
    UserNamespace,
    /// No namespace available: Landlock's TCP rules alone (UDP and others stay open).
    LandlockTcpOnly,
}

impl NetCut {
    /// A short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            NetCut::Allowed => "network allowed",
            NetCut::Namespace => "network namespace",
            NetCut::UserNamespace => "user and network namespace",
            NetCut::LandlockTcpOnly => "Landlock TCP rules only",
        }
    }
}

/// Everything the child needs after `fork`, prepared before it.
#[derive(Debug, Clone)]
pub struct ChildSetup {
    parent_pid: libc::pid_t,
    net: NetCut,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    landlock_fd: Option<RawFd>,
}

impl ChildSetup {
    /// A setup for the current process as parent. `landlock_fd` must stay open until the
    /// child has been spawned (the `Sandbox` owns it).
    pub fn new(net: NetCut, landlock_fd: Option<RawFd>) -> Self {
        // SAFETY: getuid/getgid/getpid cannot fail and touch no memory.
        let (uid, gid, pid) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
        ChildSetup {
            parent_pid: pid,
            net,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            landlock_fd,
        }
    }

    /// Registers the setup to run in the child, after std has put it in its own process
    /// group and changed directory, just before `exec`.
    pub fn install(self, command: &mut std::process::Command) {
        // SAFETY: `apply` only makes async-signal-safe system calls on data prepared
        // before fork (see the module docs); it allocates nothing.
        unsafe {
            command.pre_exec(move || self.apply());
        }
    }

    /// Runs in the child after `fork`. Async-signal-safe only.
    fn apply(&self) -> io::Result<()> {
        // SAFETY: plain system calls on integers and on buffers owned by `self`.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before PDEATHSIG was armed.
            if libc::getppid() != self.parent_pid {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            match self.net {
                NetCut::Allowed | NetCut::LandlockTcpOnly => {}
                NetCut::Namespace => {
                    if libc::unshare(libc::CLONE_NEWNET) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                NetCut::UserNamespace => {
                    if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    write_file(c"/proc/self/setgroups", b"deny")?;
                    write_file(c"/proc/self/uid_map", &self.uid_map)?;
                    write_file(c"/proc/self/gid_map", &self.gid_map)?;
                }
            }
            if self.landlock_fd.is_some() {
                drop_capabilities()?;
            }
            if let Some(fd) = self.landlock_fd {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

/// Gives up every capability for good: the bounding set (so `exec` of a root program
/// grants none back), the ambient set, and the inheritable, permitted and effective sets.
/// Without capabilities, even a command run by root cannot read lucid's memory or its
/// `/proc/PID/environ` (lucid makes itself non-dumpable, see `Sandbox::new`), load
/// modules or change the mount table. Async-signal-safe.
fn drop_capabilities() -> io::Result<()> {
    // The highest capability number any kernel has defined so far is 40
    // (CAP_CHECKPOINT_RESTORE); dropping numbers past the kernel's last one fails with
    // EINVAL, which ends the loop.
    for cap in 0..64 {
        // SAFETY: prctl on integers.
        let dropped = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if dropped != 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINVAL) => break,
                // Without CAP_SETPCAP (not root) there is nothing in the bounding set a
                // program could gain back through exec anyway.
                Some(libc::EPERM) => break,
                _ => return Err(io::Error::last_os_error()),
            }
        }
    }
    // SAFETY: prctl on integers.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are valid for the duration of the call, laid out as the
    // kernel's `__user_cap_header_struct` and two `__user_cap_data_struct`s.
    let set = unsafe {
        libc::syscall(
            libc::SYS_capset,
            std::ptr::addr_of_mut!(header),
            data.as_ptr(),
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// open + write + close, async-signal-safe.
fn write_file(path: &CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated; `bytes` outlives the call.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != bytes.len() as isize {
            return Err(error);
        }
    }
    Ok(())
}

/// Finds the strongest way to cut the network that works here, by trying each in a
/// throwaway child (`/bin/sh -c :`). `landlock_tcp` says whether Landlock can block TCP.
pub fn probe_net_cut(landlock_tcp: bool) -> Option<NetCut> {
    for net in [NetCut::Namespace, NetCut::UserNamespace] {
        let mut command = std::process::Command::new("/bin/sh");
        command
            .args(["-c", ":"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        ChildSetup::new(net, None).install(&mut command);
        if command.status().map(|s| s.success()).unwrap_or(false) {
            return Some(net);
        }
    }
    landlock_tcp.then_some(NetCut::LandlockTcpOnly)
}
