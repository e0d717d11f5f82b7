//! glibc's allocator, tuned for many agents in one process: one arena, and a fixed size
//! from which blocks get a mapping of their own. A setting the user made, by its
//! environment variable or in `GLIBC_TUNABLES`, wins over ours.
//!
//! - One arena. By default a thread that finds the heap busy gets an arena of its own,
//!   up to eight per core, and memory freed into one arena is not reused by another: an
//!   offline fleet of 10,000 agents peaked at 141-157 MB that way and at 105-111 MB with
//!   one arena, in the same time; 10,000 agents over HTTP at 449 MiB instead of 481
//!   (`lucid bench fleet`). lucid's threads are few (the async workers, sled's, a
//!   blocking pool), and small allocations stay in each thread's cache either way.
//! - A fixed mapping threshold (glibc's starting 128 KiB). By default glibc raises it to
//!   the size of each mapped block freed, up to 32 MiB, after which the large buffers of
//!   a fan-out (a lead's answer with 10,000 calls, the store's batches) come from the
//!   heap and leave it fragmented: on the same fleet, five runs peaked at 136-163 MB that
//!   way and at 115-132 MB with the threshold fixed, in the same time.

/// One allocator setting: glibc's environment variable and tunable for it, and ours.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct Setting {
    variable: &'static str,
    tunable: &'static str,
    param: libc::c_int,
    value: libc::c_int,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SETTINGS: [Setting; 2] = [
    Setting {
        variable: "MALLOC_ARENA_MAX",
        tunable: "glibc.malloc.arena_max",
        param: libc::M_ARENA_MAX,
        value: 1,
    },
    Setting {
        variable: "MALLOC_MMAP_THRESHOLD_",
        tunable: "glibc.malloc.mmap_threshold",
        param: libc::M_MMAP_THRESHOLD,
        value: 128 * 1024,
    },
];

/// Applies each setting the user did not make. Call before any other thread exists.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").ok();
        for setting in &SETTINGS {
            let set = std::env::var_os(setting.variable).is_some();
            if !chosen(set, tunables.as_deref(), setting.tunable) {
                // SAFETY: `mallopt` only sets one of the allocator's parameters, and
                // this runs before any other thread exists.
                unsafe {
                    libc::mallopt(setting.param, setting.value);
                }
            }
        }
    }
}

/// Whether the user chose a setting: by its environment variable, or as `tunable` in
/// `GLIBC_TUNABLES`.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn chosen(variable_set: bool, glibc_tunables: Option<&str>, tunable: &str) -> bool {
    variable_set
        || glibc_tunables.is_some_and(|tunables| {
            tunables.split(':').any(|entry| {
                entry
                    .strip_prefix(tunable)
                    .is_some_and(|rest| rest.starts_with('='))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::chosen;

    #[test]
    fn a_setting_the_user_chose_by_either_name_is_left_alone() {
        let arena = "glibc.malloc.arena_max";
        assert!(!chosen(false, None, arena));
        assert!(chosen(true, None, arena));
        assert!(chosen(
            false,
            Some("glibc.malloc.tcache_count=0:glibc.malloc.arena_max=8"),
            arena
        ));
        assert!(!chosen(false, Some("glibc.malloc.tcache_count=0"), arena));
        assert!(!chosen(false, Some("glibc.malloc.arena_maxx=2"), arena));
        let threshold = "glibc.malloc.mmap_threshold";
        assert!(chosen(
            false,
            Some("glibc.malloc.mmap_threshold=65536"),
            threshold
        ));
        assert!(!chosen(false, Some("glibc.malloc.arena_max=1"), threshold));
    }
}
