//! Heap in use, for the benches' memory per agent. Resident memory also counts what the
//! allocator holds free and what a run before left behind; the heap in use is what is
//! allocated now, so its growth over a run is what the run's agents hold.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes the allocator has handed out and not had back (glibc's `mallinfo2`: the main
/// heap's chunks in use and the mapped ones), where the allocator tells. Chunks parked in
/// a thread's cache count as in use. The call walks the allocator's free lists under its
/// lock, stalling every allocation meanwhile, so a run takes it a handful of times, never
/// per step. `mallinfo2` is looked up when called (glibc 2.33 and later have it), so
/// lucid still builds and runs on an older glibc, where this says nothing.
pub fn heap_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `dlsym` only looks a name up; a non-null result for `mallinfo2` is
        // glibc's function of that name, whose signature this is. It only reads the
        // allocator's statistics into the struct it returns.
        let info = unsafe {
            let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"mallinfo2".as_ptr());
            if symbol.is_null() {
                return None;
            }
            let mallinfo2: extern "C" fn() -> libc::mallinfo2 = std::mem::transmute(symbol);
            mallinfo2()
        };
        u64::try_from(info.uordblks.saturating_add(info.hblkhd)).ok()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// What the heap held over one fleet run, per worker.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct HeapPerAgent {
    /// The most the heap grew by while the workers were all at work, ÷ workers; `None`
    /// when a worker finished before the workers had made a round of turns between them
    /// (they did not all work at once).
    pub live_bytes: Option<f64>,
    /// What the heap had grown by when the last worker finished, ÷ workers.
    pub finished_bytes: Option<f64>,
}

/// Marks of the heap over one fleet run, taken as its events go by: at each round of
/// model turns (when the workers have made `workers`, `2 × workers`, … turns between
/// them, all of them still at work) and when the last worker has finished. Made for a
/// fleet of one attempt: its `workers` finishes are taken as every worker's.
pub struct HeapMarks {
    workers: u64,
    base: Option<u64>,
    worker_turns: AtomicU64,
    finished: AtomicU64,
    live_peak: AtomicU64,
    at_finish: AtomicU64,
}

impl HeapMarks {
    /// Marks for a run of `workers` workers, measured from the heap in use now; none
    /// when the number of workers is not known.
    pub fn new(workers: Option<u64>) -> Self {
        Self {
            workers: workers.unwrap_or(0).max(1),
            base: workers.and_then(|_| heap_in_use()),
            worker_turns: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            live_peak: AtomicU64::new(0),
            at_finish: AtomicU64::new(0),
        }
    }

    /// A worker's model turn went by.
    pub fn worker_turn(&self) {
        let turns = self.worker_turns.fetch_add(1, Ordering::Relaxed) + 1;
        if turns % self.workers == 0 && self.finished.load(Ordering::Relaxed) == 0 {
            if let Some(heap) = heap_in_use() {
                self.live_peak.fetch_max(heap, Ordering::Relaxed);
            }
        }
    }

    /// A worker finished.
    pub fn worker_finished(&self) {
        if self.finished.fetch_add(1, Ordering::Relaxed) + 1 == self.workers {
            if let Some(heap) = heap_in_use() {
                self.at_finish.store(heap, Ordering::Relaxed);
            }
        }
    }

    /// The figures, once the run is over; `None` where the allocator does not tell.
    pub fn per_agent(&self) -> Option<HeapPerAgent> {
        let base = self.base?;
        let grown = |mark: &AtomicU64| match mark.load(Ordering::Relaxed) {
            0 => None,
            heap => Some(heap.saturating_sub(base) as f64 / self.workers as f64),
        };
        Some(HeapPerAgent {
            live_bytes: grown(&self.live_peak),
            finished_bytes: grown(&self.at_finish),
        })
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;
    use std::hint::black_box;
    use std::sync::Mutex;

    /// The heap is the whole process's: these tests take turns, and each holds far more
    /// than any other test of this binary frees meanwhile.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    #[test]
    fn the_heap_in_use_grows_by_what_is_held() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let before = heap_in_use().unwrap();
        let held: Vec<Vec<u8>> = black_box((0..2048).map(|_| vec![1u8; 16 << 10]).collect());
        let during = heap_in_use().unwrap();
        assert!(
            during >= before + (24 << 20),
            "{before} then {during} bytes while holding 32 MiB"
        );
        drop(held);
    }

    #[test]
    fn marks_are_taken_at_each_round_of_turns_and_at_the_last_finish() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let marks = HeapMarks::new(Some(4));
        let held: Vec<Vec<u8>> = black_box((0..4).map(|_| vec![1u8; 8 << 20]).collect());
        for _ in 0..3 {
            marks.worker_turn();
        }
        assert_eq!(
            marks.live_peak.load(Ordering::Relaxed),
            0,
            "not a round yet"
        );
        marks.worker_turn();
        for _ in 0..3 {
            marks.worker_finished();
        }
        let early = marks.per_agent().unwrap();
        assert!(
            early.finished_bytes.is_none(),
            "the last worker is still at work"
        );
        marks.worker_finished();
        let figures = marks.per_agent().unwrap();
        // Each worker "held" 8 MiB through the round and at the finish.
        assert!(
            figures.live_bytes.unwrap() >= 6.0 * 1048576.0,
            "{figures:?}"
        );
        assert!(
            figures.finished_bytes.unwrap() >= 6.0 * 1048576.0,
            "{figures:?}"
        );
        drop(held);
    }

    #[test]
    fn no_live_mark_once_a_worker_has_finished() {
        let marks = HeapMarks::new(Some(2));
        marks.worker_turn();
        marks.worker_finished();
        marks.worker_turn();
        marks.worker_finished();
        let figures = marks.per_agent().unwrap();
        assert!(figures.live_bytes.is_none(), "{figures:?}");
        assert!(figures.finished_bytes.is_some(), "{figures:?}");
    }

    #[test]
    fn no_marks_without_a_number_of_workers() {
        let marks = HeapMarks::new(None);
        marks.worker_turn();
        marks.worker_finished();
        assert!(marks.per_agent().is_none());
    }
}
