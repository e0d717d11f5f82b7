//! Landlock: probing the kernel's ABI and building the ruleset a child enforces.
//!
//! Owns the rules: read and execute everywhere; write (create, remove, rename, link,
//! truncate, device ioctl, …) only beneath the root and the scratch dir, plus the
//! character devices `/dev/null`, `/dev/zero`, `/dev/full` and `/dev/tty`; creating
//! device nodes is denied even beneath the root; TCP bind/connect denied unless the
//! policy allows network (and UDP too on kernels with ABI ≥ 10); signals and abstract
//! UNIX sockets scoped to the sandbox (ABI ≥ 6); connecting to pathname UNIX sockets
//! outside the writable trees denied (ABI ≥ 9). Pseudo-terminals (`/dev/ptmx`,
//! `/dev/pts/*`) are deliberately not writable: they could reach the user's terminal. The ruleset is built in the parent,
//! before `fork`; the child only calls `landlock_restrict_self` on its fd (see `child`).
//!
//! Not covered by Landlock at all (kernel limitation): `chmod`, `chown`, `utimes` and
//! extended attributes on files the caller already owns outside the root.

use std::os::fd::OwnedFd;
use std::path::Path;

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, ABI,
};

use super::SandboxError;

/// The newest ABI this code asks for; older kernels get the subset they know
/// (best-effort compatibility in the landlock crate).
const TARGET_ABI: ABI = ABI::V10;

/// Character devices a command may open for writing.
const WRITABLE_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

/// The kernel's Landlock ABI version, or `None` when Landlock is not built in or not
/// enabled at boot.
pub fn kernel_abi() -> Option<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the syscall only
    // returns the ABI version (or an error); it touches no memory.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (version >= 1).then_some(version as i32)
}

/// Builds the ruleset for `writable` trees and returns its fd, ready for
/// `landlock_restrict_self` in a child. `network` false handles (and so denies) TCP.
pub fn build_ruleset(writable: &[&Path], network: bool) -> Result<OwnedFd, SandboxError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| SandboxError::Landlock {
        message: format!("{what}: {e}"),
    };
    let all = AccessFs::from_all(TARGET_ABI);
    let read = AccessFs::from_read(TARGET_ABI);
    let tree = all & !(AccessFs::MakeChar | AccessFs::MakeBlock);
    let device = AccessFs::from_file(TARGET_ABI);

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| fail("handling file system access", &e))?;
    if !network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET_ABI))
            .map_err(|e| fail("handling network access", &e))?;
    }
    ruleset = ruleset
        .scope(Scope::from_all(TARGET_ABI))
        .map_err(|e| fail("scoping signals and sockets", &e))?;
    let mut created = ruleset
        .create()
        .map_err(|e| fail("creating the ruleset", &e))?;

    let open = |path: &Path| {
        PathFd::new(path).map_err(|e| fail(&format!("opening {}", path.display()), &e))
    };
    created = created
        .add_rule(PathBeneath::new(open(Path::new("/"))?, read))
        .map_err(|e| fail("allowing reads under /", &e))?;
    for path in writable {
        created = created
            .add_rule(PathBeneath::new(open(path)?, tree))
            .map_err(|e| fail(&format!("allowing writes under {}", path.display()), &e))?;
    }
    for device_path in WRITABLE_DEVICES {
        let path = Path::new(device_path);
        if !path.exists() {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(open(path)?, device))
            .map_err(|e| fail(&format!("allowing {device_path}"), &e))?;
    }
    let fd: Option<OwnedFd> = created.into();
    fd.ok_or_else(|| SandboxError::Landlock {
        message: "the kernel refused to create a Landlock ruleset".to_string(),
    })
}
