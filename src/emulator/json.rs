//! A task's return values as JSON, by Roblox's rules, within the task's limits: the writer
//! stops as soon as the text passes the 4 MB Roblox allows (before building more of it), at the
//! task's deadline, and at a table that contains itself. A script controls the values, so
//! turning them into text must not be where its time or memory runs away: a table that holds
//! itself twice (`t.a = t t.b = t`) or a chain of tables shared by two keys each doubles the
//! text with every level.

use std::fmt::Write;
use std::time::Instant;

use mlua::{Table, Value};
use serde_json::Number;

/// Deeper tables than this become `null` in the results.
const MAX_DEPTH: usize = 64;
/// Values written between two looks at the clock: often enough to stop within a millisecond
/// or so of the deadline, rarely enough to cost nothing.
const STEPS_PER_CLOCK_READ: u32 = 4096;
/// Map keys longer than this are cut in the message naming a cycle.
const MAX_KEY_IN_MESSAGE: usize = 40;

/// Why the return values could not be written.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonError {
    /// Return value `value` (from 1) holds a table inside itself; `path` leads from the value
    /// to the key that points back (`.a.b`, `[3]`).
    Cyclic { value: usize, path: String },
    /// The text passed `limit` bytes; `written` were written when it stopped.
    TooLarge { limit: usize, written: usize },
    /// The task's deadline passed while writing.
    Deadline,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cyclic { value, path } => write!(
                f,
                "TaskScript: return value {value} cannot be serialized to JSON: tables cannot be cyclic, and its {path} refers back to a table that contains it"
            ),
            Self::TooLarge { limit, written } => write!(
                f,
                "The task's return values are over the {} MiB limit as JSON (stopped after {written} bytes)",
                limit / (1024 * 1024)
            ),
            Self::Deadline => {
                f.write_str("the task's deadline passed while its return values were serialized")
            }
        }
    }
}

/// A key on the way down to a cycle, for its message.
enum Step {
    Index(usize),
    Name(String),
}

/// Where a failure happened, built on the way back up.
enum Failure {
    Cyclic(Vec<Step>),
    TooLarge,
    Deadline,
}

impl Failure {
    /// The failure as seen one table up, through `step`.
    fn inside(self, step: Step) -> Self {
        match self {
            Self::Cyclic(mut path) => {
                path.push(step);
                Self::Cyclic(path)
            }
            other => other,
        }
    }
}

/// Writes the return values one by one, counting them as the array Roblox serializes: the
/// values, their commas and the brackets.
pub struct JsonWriter {
    limit: usize,
    /// Bytes of the array before the value being written.
    written: usize,
    /// Values written so far (for messages: return value N).
    values: usize,
    deadline: Instant,
    steps: u32,
    /// Tables on the current path, by address: meeting one again is a cycle.
    open: Vec<usize>,
}

impl JsonWriter {
    /// A writer of at most `limit` bytes in all, until `deadline`.
    pub fn new(limit: usize, deadline: Instant) -> Self {
        Self {
            limit,
            // The opening bracket.
            written: 1,
            values: 0,
            deadline,
            steps: 0,
            open: Vec::new(),
        }
    }

    /// The next return value as JSON text.
    pub fn value(&mut self, value: &Value) -> Result<String, JsonError> {
        self.values += 1;
        let mut out = String::new();
        match self.write(&mut out, value, 0) {
            Ok(()) => {
                // The value and the comma (or closing bracket) after it.
                self.written += out.len() + 1;
                Ok(out)
            }
            Err(Failure::Cyclic(steps)) => Err(JsonError::Cyclic {
                value: self.values,
                path: describe_path(&steps),
            }),
            Err(Failure::TooLarge) => Err(JsonError::TooLarge {
                limit: self.limit,
                written: self.written + out.len(),
            }),
            Err(Failure::Deadline) => Err(JsonError::Deadline),
        }
    }

    /// Bytes still free for the value being written into `out`.
    fn room(&self, out: &str) -> usize {
        self.limit.saturating_sub(self.written + out.len() + 1)
    }

    /// Fails once `out` no longer fits, or past the deadline.
    fn check(&mut self, out: &str) -> Result<(), Failure> {
        if self.written + out.len() + 1 > self.limit {
            return Err(Failure::TooLarge);
        }
        self.tick()
    }

    /// Fails past the deadline, reading the clock every few thousand steps.
    fn tick(&mut self) -> Result<(), Failure> {
        self.steps = self.steps.wrapping_add(1);
        if self.steps.is_multiple_of(STEPS_PER_CLOCK_READ) && Instant::now() >= self.deadline {
            return Err(Failure::Deadline);
        }
        Ok(())
    }

    fn write(&mut self, out: &mut String, value: &Value, depth: usize) -> Result<(), Failure> {
        if depth > MAX_DEPTH {
            out.push_str("null");
            return self.check(out);
        }
        match value {
            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Number(n) => write_number(out, *n),
            Value::String(s) => {
                // Borrowed from the VM once: each borrow is a trip through mlua, and a suite's
                // envelope holds tens of thousands of strings.
                let bytes = s.as_bytes();
                // Its text is at least as long as its bytes and two quotes: a string that
                // cannot fit is refused before it is copied.
                let room = self.room(out);
                if bytes.len() + 2 > room {
                    return Err(Failure::TooLarge);
                }
                // Escapes can still make it up to six times longer: stop at the limit.
                let cap = out.len() + room;
                let written = match std::str::from_utf8(&bytes) {
                    Ok(text) => write_string(out, text, cap),
                    Err(_) => write_string(out, &String::from_utf8_lossy(&bytes), cap),
                };
                if !written {
                    return Err(Failure::TooLarge);
                }
            }
            Value::Table(table) => return self.write_table(out, table, depth),
            _ => out.push_str("null"),
        }
        self.check(out)
    }

    fn write_table(
        &mut self,
        out: &mut String,
        table: &Table,
        depth: usize,
    ) -> Result<(), Failure> {
        let address = table.to_pointer() as usize;
        if self.open.contains(&address) {
            return Err(Failure::Cyclic(Vec::new()));
        }
        self.open.push(address);
        let written = self.write_open_table(out, table, depth);
        self.open.pop();
        written
    }

    /// Array-like tables (every key 1..#t) become arrays, others objects. The pairs are read
    /// once: a suite's envelope is thousands of small tables, and every read of a value from
    /// the VM costs more than writing it.
    fn write_open_table(
        &mut self,
        out: &mut String,
        table: &Table,
        depth: usize,
    ) -> Result<(), Failure> {
        let length = table.raw_len();
        let pairs = self.pairs(out, table)?;
        if pairs.is_empty() || pairs.len() == length {
            return self.write_array(out, pairs, length, depth);
        }
        let entries = self.object_entries(out, pairs)?;
        out.push('{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if !write_string(out, key, out.len() + self.room(out)) {
                return Err(Failure::TooLarge);
            }
            out.push(':');
            self.write(out, value, depth + 1)
                .map_err(|failure| failure.inside(Step::Name(key.clone())))?;
        }
        out.push('}');
        self.check(out)
    }

    /// The items 1..=`length` of a table whose `pairs` are as many as its length, in order; a
    /// key that is not one of them (a table with holes) is left out, as reading the items by
    /// index would.
    fn write_array(
        &mut self,
        out: &mut String,
        pairs: Vec<(Value, Value)>,
        length: usize,
        depth: usize,
    ) -> Result<(), Failure> {
        // Luau hands a sequence's items over in order (its array part); only a table built out
        // of order has them elsewhere.
        let in_order = pairs
            .iter()
            .enumerate()
            .all(|(i, (key, _))| array_index(key, length) == Some(i));
        let items = if in_order {
            pairs.into_iter().map(|(_, value)| value).collect()
        } else {
            let mut items = vec![Value::Nil; length];
            for (key, value) in pairs {
                if let Some(slot) = array_index(&key, length).and_then(|i| items.get_mut(i)) {
                    *slot = value;
                }
            }
            items
        };
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.write(out, item, depth + 1)
                .map_err(|failure| failure.inside(Step::Index(i + 1)))?;
        }
        out.push(']');
        self.check(out)
    }

    /// Every pair of `table` (raw, without `__pairs`). Every item takes at least two bytes (a
    /// digit and a comma): a table with more pairs than half the room left cannot fit, whatever
    /// it holds, and is refused before it is read whole.
    fn pairs(&mut self, out: &str, table: &Table) -> Result<Vec<(Value, Value)>, Failure> {
        let most = self.room(out) / 2 + 1;
        let mut pairs = Vec::new();
        let mut stopped = None;
        // `for_each` stops at the first error; the failure itself is kept aside.
        let _ = table.for_each::<Value, Value>(|key, value| {
            let step = if pairs.len() >= most {
                Err(Failure::TooLarge)
            } else {
                self.tick()
            };
            match step {
                Ok(()) => {
                    pairs.push((key, value));
                    Ok(())
                }
                Err(failure) => {
                    stopped = Some(failure);
                    Err(mlua::Error::runtime("stopped"))
                }
            }
        });
        stopped.map_or(Ok(pairs), Err)
    }

    /// The pairs of an object, keys as JSON keys (number keys as strings), sorted so the text is
    /// the same from run to run. Keys JSON cannot hold are left out. Fails before sorting when
    /// the keys alone could not fit.
    fn object_entries(
        &mut self,
        out: &str,
        pairs: Vec<(Value, Value)>,
    ) -> Result<Vec<(String, Value)>, Failure> {
        let room = self.room(out);
        // Each entry takes its key, two quotes, a colon, a value and a comma.
        let mut needed = 0;
        let mut entries = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let key = match key {
                Value::String(s) => {
                    let bytes = s.as_bytes();
                    if bytes.len() + needed > room {
                        return Err(Failure::TooLarge);
                    }
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => {
                    let mut text = String::new();
                    write_number(&mut text, n);
                    if text == "null" {
                        continue;
                    }
                    text
                }
                _ => continue,
            };
            needed += key.len() + 5;
            if needed > room + 1 {
                return Err(Failure::TooLarge);
            }
            entries.push((key, value));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }
}

/// The place (from 0) of `key` among the items 1..=`length` of an array.
fn array_index(key: &Value, length: usize) -> Option<usize> {
    let index = match *key {
        Value::Integer(i) => usize::try_from(i).ok()?,
        // Luau's numbers are doubles: mlua gives whole ones as integers, but not every one.
        Value::Number(n) if n.fract() == 0.0 && n >= 1.0 && n <= length as f64 => n as usize,
        _ => return None,
    };
    (1..=length).contains(&index).then(|| index - 1)
}

/// `.a.b[3]`: the keys from a return value down to a cycle.
fn describe_path(steps: &[Step]) -> String {
    let mut path = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Index(i) => path.push_str(&format!("[{i}]")),
            Step::Name(name) => {
                let plain = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                let shown = crate::text::cut(name, MAX_KEY_IN_MESSAGE);
                if plain {
                    path.push('.');
                    path.push_str(&shown);
                } else {
                    path.push_str(&format!("[{shown:?}]"));
                }
            }
        }
    }
    path
}

fn write_number(out: &mut String, n: f64) {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        out.push_str(&(n as i64).to_string());
    } else {
        match Number::from_f64(n) {
            Some(number) => out.push_str(&number.to_string()),
            None => out.push_str("null"),
        }
    }
}

/// Writes `text` as a JSON string; false (and stops) once `out` passes `cap` bytes.
pub(crate) fn write_string(out: &mut String, text: &str, cap: usize) -> bool {
    out.push('"');
    let mut rest = text;
    // Runs that need no escape are copied whole (most text is such a run), once they are
    // known to fit.
    while !rest.is_empty() {
        let plain = rest
            .bytes()
            .position(|b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(rest.len());
        if plain > 0 {
            if out.len() + plain > cap {
                return false;
            }
            out.push_str(&rest[..plain]);
            rest = &rest[plain..];
            continue;
        }
        if out.len() > cap {
            return false;
        }
        let mut chars = rest.chars();
        let Some(c) = chars.next() else { break };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        rest = chars.as_str();
    }
    out.push('"');
    out.len() <= cap
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use mlua::Lua;

    const LIMIT: usize = 4 * 1024 * 1024;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(600)
    }

    /// The values `script` returns, as the writer writes them.
    fn write(script: &str, limit: usize, deadline: Instant) -> Result<Vec<String>, JsonError> {
        let lua = Lua::new();
        let values: mlua::MultiValue = lua.load(script).eval().expect("the script runs");
        let mut writer = JsonWriter::new(limit, deadline);
        values.iter().map(|value| writer.value(value)).collect()
    }

    #[test]
    fn shared_tables_are_repeated_and_cycles_refused() {
        assert_eq!(
            write("local s = {1} return {a = s, b = {s}}", LIMIT, later()),
            Ok(vec![r#"{"a":[1],"b":[[1]]}"#.to_owned()])
        );
        assert_eq!(
            write("local t = {} t.a = t t.b = t return 1, t", LIMIT, later()),
            Err(JsonError::Cyclic {
                value: 2,
                path: ".a".into()
            })
        );
        let deep = write(
            "local t = {x = {}} t.x[3] = {['my key'] = t.x} return t",
            LIMIT,
            later(),
        );
        assert_eq!(
            deep,
            Err(JsonError::Cyclic {
                value: 1,
                path: r#".x["3"]["my key"]"#.into()
            })
        );
        let message = deep.unwrap_err().to_string();
        assert!(message.contains("tables cannot be cyclic"), "{message}");
    }

    #[test]
    fn tables_and_strings_are_written_as_roblox_writes_them() {
        assert_eq!(
            write(
                r#"return {1, 2.5, "é \"q\" \\ \n\1 ok"}, {b = true, a = {}, [3] = "x"}, {}"#,
                LIMIT,
                later()
            ),
            Ok(vec![
                r#"[1,2.5,"é \"q\" \\ \n\u0001 ok"]"#.to_owned(),
                r#"{"3":"x","a":[],"b":true}"#.to_owned(),
                "[]".to_owned(),
            ])
        );
        // Fewer pairs than its length: an object.
        assert_eq!(
            write("local t = {1, nil, 3} t.x = 1 return t", LIMIT, later()),
            Ok(vec![r#"{"1":1,"3":3,"x":1}"#.to_owned()])
        );
        // As many pairs as its length: an array, its hole `null`, and the key past its length
        // left out (as reading the items 1..#t by index leaves it). Its keys do not come in
        // order, so its items are placed by index.
        assert_eq!(
            write(
                "local t = table.create(4) t[1] = 1 t[3] = 3 t[4] = 4 t.x = 1 return t",
                LIMIT,
                later()
            ),
            Ok(vec!["[1,null,3,4]".to_owned()])
        );
    }

    #[test]
    fn the_limit_stops_the_writer_before_the_text_is_built() {
        // 2^60 leaves, if it were written out: it stops at the limit.
        let shared = "local t = {} for i = 1, 60 do t = {a = t, b = t} end return t";
        assert!(matches!(
            write(shared, LIMIT, later()),
            Err(JsonError::TooLarge { written, .. }) if written <= LIMIT
        ));
        // A string that cannot fit is refused whole; one whose escapes pass the limit stops.
        for script in [
            "return string.rep('x', 5 * 1024 * 1024)",
            "return string.rep('\\1', 1024 * 1024)",
            "return 'ab', 'c', string.rep('x', 100)",
        ] {
            assert!(
                matches!(
                    write(script, 100, later()),
                    Err(JsonError::TooLarge { written, .. }) if written <= 100
                ),
                "{script}"
            );
        }
        // The whole array counts: brackets and commas included.
        assert!(write("return 'abc', 'def'", 13, later()).is_ok());
        assert!(write("return 'abc', 'def'", 12, later()).is_err());
        // Many keys are refused before they are sorted.
        assert!(matches!(
            write(
                "local t = {} for i = 1, 100000 do t['k' .. i] = i end return t",
                LIMIT / 8,
                later()
            ),
            Err(JsonError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_deadline_stops_the_writer() {
        assert_eq!(
            write(
                "local t = {} for i = 1, 10000 do t[i] = {} end return t",
                LIMIT,
                Instant::now()
            ),
            Err(JsonError::Deadline)
        );
    }
}
