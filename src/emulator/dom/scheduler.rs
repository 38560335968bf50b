//! The task's scheduler: the main script runs as a thread; `task.wait`, `task.delay` and
//! `task.defer` park threads here, and the loop resumes them when they are due (deferred ones
//! first, then the earliest due, in the order they were scheduled). The task ends when the
//! main thread returns or fails, as a Roblox task does; threads still waiting then are dropped.
//! Sleeping never passes the task's deadline.
//!
//! The main thread's fate is a value the scheduler holds, not something it learns by resuming
//! the thread itself: the main script runs inside a body (`host.setMainBody`, in the prelude)
//! that hands its return values or its error to [`Scheduler::settle`], so they count however the
//! thread was resumed — by this loop, by `task.spawn` from a signal's `Wait`, or by
//! `coroutine.resume` in another thread.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::ffi::c_void;
use std::time::{Duration, Instant};

use mlua::thread::ThreadStatus;
use mlua::{Function, LightUserData, Lua, MultiValue, Thread, Value};

use crate::roblox::FRAME;

/// Marks a `task.wait`: the thread is resumed with the time it waited.
static WAIT_MARKER: u8 = 0;

pub fn wait_marker(_lua: &Lua) -> mlua::Result<Value> {
    Ok(Value::LightUserData(LightUserData(
        (&raw const WAIT_MARKER).cast::<c_void>().cast_mut(),
    )))
}

fn is_wait_marker(value: &Value) -> bool {
    matches!(value, Value::LightUserData(LightUserData(ptr)) if ptr.cast_const() == (&raw const WAIT_MARKER).cast::<c_void>())
}

enum Resume {
    /// A `task.wait` since then: resumed with the seconds waited.
    Wait(Instant),
    /// `task.delay`/`task.defer`: resumed with these arguments.
    Values(Vec<Value>),
}

struct Entry {
    thread: Thread,
    resume: Resume,
}

/// Where an entry waits: its due time and its place in the order of scheduling (the heap's
/// key, and the entry's id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    due: Instant,
    order: u64,
}

/// The parked threads. Each operation is O(log n) in the entries waiting: timed entries sit in
/// a min-heap keyed by (due, order), deferred ones in a FIFO, and `task.cancel` removes a
/// thread's entries through the index of its ids without scanning either queue. A cancelled
/// id left in the heap or the FIFO is skipped when it comes up, and both are compacted once
/// such ids outnumber the live ones, so cancelling in a loop cannot grow them without bound.
#[derive(Default)]
struct Queues {
    entries: HashMap<u64, Entry>,
    timed: BinaryHeap<Reverse<Slot>>,
    deferred: VecDeque<u64>,
    /// (thread, id) of every waiting entry, the thread by pointer (an entry holds its thread,
    /// so the pointer is not reused while it waits): a thread's ids are one range.
    by_thread: BTreeSet<(usize, u64)>,
    /// Ids in `timed` and `deferred` whose entry was cancelled.
    stale: usize,
    order: u64,
}

impl Queues {
    fn push(&mut self, thread: Thread, resume: Resume, due: Option<Instant>) {
        self.order += 1;
        let order = self.order;
        self.by_thread.insert((thread.to_pointer() as usize, order));
        self.entries.insert(order, Entry { thread, resume });
        match due {
            Some(due) => self.timed.push(Reverse(Slot { due, order })),
            None => self.deferred.push_back(order),
        }
    }

    /// Takes the entry `order` out (`None` if it was cancelled).
    fn take(&mut self, order: u64) -> Option<Entry> {
        let Some(entry) = self.entries.remove(&order) else {
            self.stale = self.stale.saturating_sub(1);
            return None;
        };
        self.by_thread
            .remove(&(entry.thread.to_pointer() as usize, order));
        Some(entry)
    }

    fn cancel(&mut self, thread: &Thread) {
        let key = thread.to_pointer() as usize;
        let ids: Vec<(usize, u64)> = self
            .by_thread
            .range((key, 0)..=(key, u64::MAX))
            .copied()
            .collect();
        for id in ids {
            self.by_thread.remove(&id);
            if self.entries.remove(&id.1).is_some() {
                self.stale += 1;
            }
        }
        if self.stale > 1024 && self.stale > self.entries.len() {
            let entries = &self.entries;
            self.timed
                .retain(|Reverse(slot)| entries.contains_key(&slot.order));
            self.deferred.retain(|id| entries.contains_key(id));
            self.stale = 0;
        }
    }

    fn pop_deferred(&mut self) -> Option<Entry> {
        while let Some(id) = self.deferred.pop_front() {
            if let Some(entry) = self.take(id) {
                return Some(entry);
            }
        }
        None
    }

    /// The earliest live timed slot, cancelled ones dropped on the way.
    fn next_timed(&mut self) -> Option<Slot> {
        while let Some(Reverse(slot)) = self.timed.peek().copied() {
            if self.entries.contains_key(&slot.order) {
                return Some(slot);
            }
            self.timed.pop();
            self.stale = self.stale.saturating_sub(1);
        }
        None
    }
}

/// Why the scheduler stopped without the main thread returning.
#[derive(Debug)]
pub enum Stopped {
    /// The deadline came first.
    Deadline,
    /// The main thread raised an error.
    Error(mlua::Error),
    /// The main thread waits for something nothing will ever do.
    Stuck,
}

/// How the main script ended.
type Fate = Result<MultiValue, mlua::Error>;

/// What the VM raises when an allocation fails (Luau's `LUA_MEMERRMSG`). A `pcall` turns the
/// out-of-memory error into this plain string, so the main body's catch sees only the text.
const OUT_OF_MEMORY: &str = "not enough memory";

/// The frame loop's state.
#[derive(Default)]
struct Frames {
    /// The Luau step: fires one frame's events with its `deltaTime`, answers whether anyone
    /// still listens.
    step: Option<Function>,
    /// When the next frame is due; `None` while nobody listens.
    next: Option<Instant>,
    /// When the last frame ran (its successor's `deltaTime` counts from there).
    last: Option<Instant>,
}

/// What the loop does next.
enum Work {
    Entry(Entry),
    Frame,
    /// The due entry was gone after the sleep (nothing can do that: no script runs while the
    /// scheduler sleeps).
    Nothing,
}

#[derive(Default)]
pub struct Scheduler {
    queues: RefCell<Queues>,
    /// The Luau function that resumes a thread and logs its error (not the main thread's).
    resumer: RefCell<Option<Function>>,
    /// The Luau function the main thread runs: calls the script and settles its fate.
    main_body: RefCell<Option<Function>>,
    /// The main script's fate, once it has returned or failed.
    fate: RefCell<Option<Fate>>,
    frames: RefCell<Frames>,
    /// When the scheduler last spent a wait on a garbage-collection cycle.
    last_idle_gc: Cell<Option<Instant>>,
}

/// Waits shorter than this are not worth starting a collection for.
const IDLE_GC_MIN_WAIT: Duration = Duration::from_millis(5);
/// At most one idle collection cycle in this long.
const IDLE_GC_EVERY: Duration = Duration::from_millis(100);
/// Idle collection stops this long before the wait is due.
const IDLE_GC_MARGIN: Duration = Duration::from_millis(1);

impl Scheduler {
    pub fn set_resumer(&self, resumer: Function) {
        *self.resumer.borrow_mut() = Some(resumer);
    }

    pub fn set_main_body(&self, body: Function) {
        *self.main_body.borrow_mut() = Some(body);
    }

    /// RunService's frame step (see the module's doc).
    pub fn set_frame_step(&self, step: Function) {
        self.frames.borrow_mut().step = Some(step);
    }

    /// Someone listens to a frame event: the loop runs frames until a frame finds nobody.
    pub fn wake_frames(&self) {
        let mut frames = self.frames.borrow_mut();
        if frames.next.is_none() {
            let now = Instant::now();
            frames.next = Some(now + FRAME);
            frames.last = Some(now);
        }
    }

    /// `host.settle(pcall(script, ...))`: the main script returned (`true, ...`) or failed
    /// (`false, error`). The first fate counts.
    pub fn settle(&self, lua: &Lua, args: MultiValue) -> mlua::Result<()> {
        let mut args = args.into_iter();
        let fate = match args.next() {
            Some(Value::Boolean(true)) => Ok(args.collect()),
            _ => Err(error_from_value(lua, args.next().unwrap_or(Value::Nil))),
        };
        let mut settled = self.fate.borrow_mut();
        if settled.is_none() {
            *settled = Some(fate);
        }
        Ok(())
    }

    /// `host.schedule(thread, seconds, ...)`: negative seconds defer to the end of this cycle.
    pub fn schedule(&self, _lua: &Lua, args: MultiValue) -> mlua::Result<()> {
        let mut args = args.into_iter();
        let Some(Value::Thread(thread)) = args.next() else {
            return Err(mlua::Error::runtime(
                "invalid argument #1 (thread expected)",
            ));
        };
        let seconds = match args.next() {
            Some(Value::Number(n)) => n,
            Some(Value::Integer(n)) => n as f64,
            _ => 0.0,
        };
        let rest: Vec<Value> = args.collect();
        let now = Instant::now();
        let resume = if rest.first().is_some_and(is_wait_marker) {
            Resume::Wait(now)
        } else {
            Resume::Values(rest)
        };
        let due = (seconds >= 0.0).then(|| {
            let wait = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
            now.checked_add(wait)
                .unwrap_or(now + Duration::from_secs(86_400 * 365))
        });
        self.queues.borrow_mut().push(thread, resume, due);
        Ok(())
    }

    /// `task.cancel`: the thread is not resumed again.
    pub fn cancel(&self, thread: &Thread) {
        self.queues.borrow_mut().cancel(thread);
    }

    /// Runs `script` with `args` as the task's main thread until it returns or fails; its
    /// return values.
    pub fn run(
        &self,
        lua: &Lua,
        script: Function,
        args: MultiValue,
        deadline: Instant,
    ) -> Result<MultiValue, Stopped> {
        let body =
            self.main_body.borrow().clone().ok_or_else(|| {
                Stopped::Error(mlua::Error::runtime("the prelude set no main body"))
            })?;
        let main = lua.create_thread(body).map_err(Stopped::Error)?;
        let mut first = MultiValue::new();
        first.push_back(Value::Function(script));
        first.extend(args);
        self.resume_main(&main, first);
        loop {
            if let Some(fate) = self.fate.borrow_mut().take() {
                return fate.map_err(Stopped::Error);
            }
            if main.status() != ThreadStatus::Resumable {
                // Closed (`task.cancel`, `coroutine.close`) before it returned: no result to
                // report, and never a success.
                return Err(Stopped::Error(mlua::Error::runtime(
                    "the task's main thread was closed before it returned",
                )));
            }
            let entry = match self.next_work(lua, deadline)? {
                Work::Entry(entry) => entry,
                Work::Frame => {
                    self.run_frame()?;
                    if Instant::now() >= deadline {
                        return Err(Stopped::Deadline);
                    }
                    continue;
                }
                Work::Nothing => continue,
            };
            let values: MultiValue = match entry.resume {
                Resume::Wait(since) => {
                    std::iter::once(Value::Number(since.elapsed().as_secs_f64())).collect()
                }
                Resume::Values(values) => values.into_iter().collect(),
            };
            if entry.thread == main {
                self.resume_main(&main, values);
            } else if entry.thread.status() == ThreadStatus::Resumable {
                let resumer = self.resumer.borrow().clone();
                if let Some(resumer) = resumer {
                    let mut all = MultiValue::new();
                    all.push_back(Value::Thread(entry.thread));
                    all.extend(values);
                    resumer.call::<()>(all).map_err(Stopped::Error)?;
                }
            }
            if Instant::now() >= deadline {
                return Err(Stopped::Deadline);
            }
        }
    }

    /// Resumes the main thread. Its body settles the fate itself; an error that escapes the
    /// body (it could not even settle, e.g. out of memory) is the fate unless one was settled.
    fn resume_main(&self, main: &Thread, values: MultiValue) {
        if let Err(error) = main.resume::<()>(values) {
            self.fate.borrow_mut().get_or_insert(Err(error));
        }
    }

    /// The next entry to resume or frame to run, sleeping until it is due: deferred entries
    /// first, then whichever of the earliest timed entry and the next frame comes first.
    fn next_work(&self, lua: &Lua, deadline: Instant) -> Result<Work, Stopped> {
        if let Some(entry) = self.queues.borrow_mut().pop_deferred() {
            return Ok(Work::Entry(entry));
        }
        let slot = self.queues.borrow_mut().next_timed();
        let frame = self.frames.borrow().next;
        let (due, is_frame) = match (slot, frame) {
            (None, None) => return Err(Stopped::Stuck),
            (Some(slot), Some(frame)) if frame < slot.due => (frame, true),
            (Some(slot), _) => (slot.due, false),
            (None, Some(frame)) => (frame, true),
        };
        let now = Instant::now();
        if due > now {
            if deadline <= due {
                std::thread::sleep(deadline.saturating_duration_since(now));
                return Err(Stopped::Deadline);
            }
            self.idle_until(lua, due);
        }
        if is_frame {
            return Ok(Work::Frame);
        }
        let Some(slot) = slot else {
            return Ok(Work::Nothing);
        };
        let mut queues = self.queues.borrow_mut();
        queues.timed.pop();
        Ok(queues.take(slot.order).map_or(Work::Nothing, Work::Entry))
    }

    /// Waits until `due`, spending the wait on a garbage-collection cycle first when none ran
    /// idle lately. Roblox's collector runs in the background, so code that waits for a weak
    /// reference to clear (Fusion's suite polls a weak table with `task.wait`) sees it clear
    /// while its threads sleep; here nothing else would collect while no script allocates. The
    /// collector takes small steps and stops short of `due`, so it never delays due work by
    /// more than a step, and at most one idle cycle per [`IDLE_GC_EVERY`] keeps a frame loop
    /// from turning every frame's gap into a collection.
    fn idle_until(&self, lua: &Lua, due: Instant) {
        let now = Instant::now();
        let collected_lately = self
            .last_idle_gc
            .get()
            .is_some_and(|last| now.duration_since(last) < IDLE_GC_EVERY);
        if !collected_lately && due.saturating_duration_since(now) >= IDLE_GC_MIN_WAIT {
            self.last_idle_gc.set(Some(now));
            while Instant::now() + IDLE_GC_MARGIN < due {
                // `true` once a cycle has finished; an error (out of memory) is the script's
                // to meet when it next runs.
                if lua.gc_step().unwrap_or(true) {
                    break;
                }
            }
        }
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }

    /// Runs one frame: the step gets the real time since the last frame; the loop stops when
    /// the step says nobody listens any more. No borrow is held while the step runs (its
    /// handlers may connect, and so wake the loop).
    fn run_frame(&self) -> Result<(), Stopped> {
        let now = Instant::now();
        let (step, delta) = {
            let mut frames = self.frames.borrow_mut();
            let delta = now.saturating_duration_since(frames.last.unwrap_or(now));
            frames.last = Some(now);
            frames.next = Some(now + FRAME);
            (frames.step.clone(), delta)
        };
        let listening = match step {
            Some(step) => step
                .call::<bool>(delta.as_secs_f64())
                .map_err(Stopped::Error)?,
            None => false,
        };
        if !listening {
            let mut frames = self.frames.borrow_mut();
            frames.next = None;
            frames.last = None;
        }
        Ok(())
    }
}

/// The error a `pcall` caught, as the error the VM would have raised.
fn error_from_value(lua: &Lua, value: Value) -> mlua::Error {
    match value {
        // An error raised by a Rust callback (a deadline, a bad argument) keeps its type.
        Value::Error(error) => *error,
        Value::String(text) if text == OUT_OF_MEMORY => {
            mlua::Error::MemoryError(OUT_OF_MEMORY.into())
        }
        Value::String(text) => mlua::Error::RuntimeError(text.to_string_lossy()),
        // What an uncaught error of another type reads as: its `tostring`.
        other => {
            let text = lua
                .globals()
                .get::<Function>("tostring")
                .and_then(|tostring| tostring.call::<String>(other.clone()))
                .unwrap_or_else(|_| other.type_name().to_owned());
            mlua::Error::RuntimeError(text)
        }
    }
}
