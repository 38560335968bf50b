//! The binary format (`.rbxl`), checked before rbx_binary decodes it. rbx_binary sizes its
//! allocations by counts the file states (the header's class and instance counts, a chunk's
//! uncompressed length, an INST chunk's instance count, a string's length, a sequence's
//! keypoint count…) and allocates before it reads what they count, so a 32-byte file can ask for
//! hundreds of gigabytes and abort the process. This walks the same layout without allocating
//! by any count: every count must fit in the bytes that follow it, the chunks may inflate to
//! [`MAX_INFLATED_BYTES`] in all, and the tree they describe must stay within
//! [`MAX_INSTANCES`] and [`MAX_PROPERTY_VALUES`].
//!
//! Layout (as rbx_binary reads it): `<roblox!`, a 6-byte signature, a u16 version (0), u32
//! class count, u32 instance count, 8 reserved zero bytes; then chunks, each a 4-byte name,
//! u32 compressed length (0: stored), u32 uncompressed length, u32 reserved (0), and its data
//! (LZ4 block, or ZSTD when it starts with ZSTD's magic), up to the `END\0` chunk.

use std::borrow::Cow;
use std::collections::HashMap;

use super::reader::{Reader, Short};
use super::{MAX_INFLATED_BYTES, MAX_INSTANCES, MAX_PROPERTY_VALUES, attributes};

const MAGIC: &[u8] = b"<roblox!";
const SIGNATURE: &[u8] = b"\x89\xff\r\n\x1a\n";
const HEADER_BYTES: usize = 32;
const CHUNK_HEADER_BYTES: u64 = 16;
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The PROP value types whose values carry their own lengths or counts (rbx_binary's type
/// bytes). Every other type is a fixed number of bytes per instance, which the instance limit
/// bounds.
const STRING: u8 = 0x01;
const NUMBER_SEQUENCE: u8 = 0x15;
const COLOR_SEQUENCE: u8 = 0x16;
const FONT: u8 = 0x20;
const CONTENT: u8 = 0x22;

/// One chunk as its header describes it.
struct Chunk<'a> {
    name: [u8; 4],
    /// Where the chunk starts in the file, for messages.
    offset: usize,
    compressed: u32,
    inflated: u32,
    stored: &'a [u8],
}

impl Chunk<'_> {
    fn label(&self) -> String {
        let name: String = self
            .name
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect();
        format!("chunk {name} at byte {}", self.offset)
    }
}

/// What the chunks add up to, against the header's claims and the limits.
#[derive(Default)]
struct Tally {
    /// Instances per class ID (INST chunks), and the class name.
    classes: HashMap<u32, (String, u64)>,
    instances: u64,
    /// PROP chunks per class ID: each gives every instance of the class one value.
    properties: HashMap<u32, u64>,
    /// Entries that are neither instances nor properties: metadata, shared strings, content
    /// URIs and references.
    other_values: u64,
}

/// `Err` says, in one line, what in the file cannot be right.
pub(super) fn check(bytes: &[u8]) -> Result<(), String> {
    let (classes_claimed, instances_claimed) = header(bytes)?;
    let chunks = chunks(bytes)?;
    let mut tally = Tally::default();
    for chunk in &chunks {
        let data = inflate(chunk)?;
        let mut reader = Reader::new(&data);
        let label = chunk.label();
        let walked = match &chunk.name {
            b"META" => meta(&mut reader, &mut tally),
            b"SSTR" => shared_strings(&mut reader, &mut tally),
            b"INST" => classes(&mut reader, &mut tally),
            b"PROP" => properties(&mut reader, &mut tally),
            b"PRNT" => parents(&mut reader),
            _ => Ok(()),
        };
        walked.map_err(|problem| format!("{label}: {problem}"))?;
        if tally.instances > MAX_INSTANCES {
            return Err(format!(
                "{label}: its INST chunks describe more than the {MAX_INSTANCES} instances a place may have"
            ));
        }
    }
    let defined = tally.classes.len() as u64;
    if u64::from(classes_claimed) > defined {
        return Err(format!(
            "its header claims {classes_claimed} classes, but its chunks define {defined}"
        ));
    }
    if u64::from(instances_claimed) > tally.instances {
        return Err(format!(
            "its header claims {instances_claimed} instances, but its chunks define {}",
            tally.instances
        ));
    }
    let values = property_values(&tally);
    if values > MAX_PROPERTY_VALUES {
        return Err(format!(
            "it holds {values} property values, more than the {MAX_PROPERTY_VALUES} a place may have"
        ));
    }
    Ok(())
}

/// The header's class and instance counts, after the fixed fields; counts no file of this
/// size could back are refused here, before any chunk is looked at.
fn header(bytes: &[u8]) -> Result<(u32, u32), String> {
    let mut reader = Reader::new(bytes);
    let short = |_: Short| {
        format!(
            "it is {} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        )
    };
    let magic = reader.take(8).map_err(short)?;
    let signature = reader.take(6).map_err(short)?;
    if magic != MAGIC || signature != SIGNATURE {
        return Err("its header is not a Roblox binary header".into());
    }
    let version = reader.u16_le().map_err(short)?;
    if version != 0 {
        return Err(format!(
            "its format version is {version}; only version 0 exists"
        ));
    }
    let classes = reader.u32_le().map_err(short)?;
    let instances = reader.u32_le().map_err(short)?;
    if reader.take(8).map_err(short)?.iter().any(|&b| b != 0) {
        return Err("its header's reserved bytes are not zero".into());
    }
    // Every class needs an INST chunk of its own, and a chunk header alone is 16 bytes.
    let room = (bytes.len() - HEADER_BYTES) as u64 / CHUNK_HEADER_BYTES;
    if u64::from(classes) > room {
        return Err(format!(
            "its header claims {classes} classes, more than a {}-byte file can hold",
            bytes.len()
        ));
    }
    if u64::from(instances) > MAX_INSTANCES {
        return Err(format!(
            "its header claims {instances} instances, more than the {MAX_INSTANCES} instances a place may have"
        ));
    }
    Ok((classes, instances))
}

/// Every chunk up to `END\0`, from the headers alone: each holds what it says, and all of
/// them inflate to at most the limit (so a compression bomb is refused before anything is
/// inflated).
fn chunks(bytes: &[u8]) -> Result<Vec<Chunk<'_>>, String> {
    let mut reader = Reader::new(&bytes[HEADER_BYTES..]);
    let mut chunks = Vec::new();
    let mut inflated_total: u64 = 0;
    loop {
        let offset = bytes.len() - reader.left();
        if reader.left() == 0 {
            return Err(format!(
                "it ends after {} chunks without an END chunk (a truncated file?)",
                chunks.len()
            ));
        }
        let truncated = |_: Short| format!("it ends inside the chunk header at byte {offset}");
        let name: [u8; 4] = reader
            .take(4)
            .map_err(truncated)?
            .try_into()
            .map_err(|_| format!("a chunk name at byte {offset} is not 4 bytes"))?;
        let compressed = reader.u32_le().map_err(truncated)?;
        let inflated = reader.u32_le().map_err(truncated)?;
        let reserved = reader.u32_le().map_err(truncated)?;
        let mut chunk = Chunk {
            name,
            offset,
            compressed,
            inflated,
            stored: &[],
        };
        let label = chunk.label();
        if reserved != 0 {
            return Err(format!("{label}: its reserved field is {reserved}, not 0"));
        }
        // rbx_binary tells ZSTD from LZ4 by the first four bytes of compressed data.
        if (1..4).contains(&compressed) {
            return Err(format!(
                "{label}: its compressed data is {compressed} bytes, too short to be any"
            ));
        }
        let stored_length = if compressed == 0 {
            inflated
        } else {
            compressed
        };
        chunk.stored = reader.take(u64::from(stored_length)).map_err(|short| {
            format!(
                "{label}: it says it holds {stored_length} bytes, but only {} remain in the file",
                short.left
            )
        })?;
        inflated_total += u64::from(inflated);
        if inflated_total > MAX_INFLATED_BYTES {
            return Err(format!(
                "{label}: its chunks inflate to more than the {} MiB a place may (this one claims {inflated} bytes)",
                MAX_INFLATED_BYTES >> 20
            ));
        }
        let end = &chunk.name == b"END\0";
        chunks.push(chunk);
        if end {
            return Ok(chunks);
        }
    }
}

/// A chunk's data as rbx_binary will see it, which must be exactly as long as its header
/// says (rbx_binary asserts it).
fn inflate<'a>(chunk: &Chunk<'a>) -> Result<Cow<'a, [u8]>, String> {
    if chunk.compressed == 0 {
        return Ok(Cow::Borrowed(chunk.stored));
    }
    let expected = chunk.inflated as usize;
    let inflated = if chunk.stored.starts_with(ZSTD_MAGIC) {
        zstd::bulk::decompress(chunk.stored, expected).map_err(|e| e.to_string())
    } else {
        lz4_flex::block::decompress(chunk.stored, expected).map_err(|e| e.to_string())
    }
    .map_err(|error| format!("{}: its compressed data is corrupt: {error}", chunk.label()))?;
    if inflated.len() != expected {
        return Err(format!(
            "{}: it inflates to {} bytes, not the {expected} its header says",
            chunk.label(),
            inflated.len()
        ));
    }
    Ok(Cow::Owned(inflated))
}

/// A count of entries of at least `entry_bytes` each, which must fit in what is left.
fn count(reader: &mut Reader, what: &str, entry_bytes: u64) -> Result<u32, String> {
    let count = reader
        .u32_le()
        .map_err(|_| format!("it ends before its {what} count"))?;
    let room = reader.left() as u64 / entry_bytes;
    if u64::from(count) > room {
        return Err(format!(
            "it claims {count} {what}, but its {} bytes hold at most {room}",
            reader.left()
        ));
    }
    Ok(count)
}

fn string<'a>(reader: &mut Reader<'a>, what: &str) -> Result<&'a [u8], String> {
    reader.string().map_err(|short| {
        format!(
            "{what} claims {} bytes, but only {} remain in the chunk",
            short.wanted, short.left
        )
    })
}

fn skip(reader: &mut Reader, count: u64, size: u64, what: &str) -> Result<(), String> {
    reader.array(count, size).map(drop).map_err(|short| {
        format!(
            "its {count} {what} need {} bytes, but only {} remain in the chunk",
            short.wanted, short.left
        )
    })
}

/// META: a count, then that many key/value string pairs.
fn meta(reader: &mut Reader, tally: &mut Tally) -> Result<(), String> {
    let entries = count(reader, "metadata entries", 8)?;
    for _ in 0..entries {
        string(reader, "a metadata key")?;
        string(reader, "a metadata value")?;
    }
    tally.other_values += u64::from(entries);
    Ok(())
}

/// SSTR: a version, a count, then that many (16-byte hash, string) entries.
fn shared_strings(reader: &mut Reader, tally: &mut Tally) -> Result<(), String> {
    reader
        .u32_le()
        .map_err(|_| "it ends before its version".to_owned())?;
    let entries = count(reader, "shared strings", 20)?;
    for _ in 0..entries {
        skip(reader, 1, 16, "shared string hash")?;
        string(reader, "a shared string")?;
    }
    tally.other_values += u64::from(entries);
    Ok(())
}

/// INST: class ID, class name, a format byte, an instance count, then the instances'
/// referents (4 bytes each; a service marker byte each follows in format 1).
fn classes(reader: &mut Reader, tally: &mut Tally) -> Result<(), String> {
    let id = reader
        .u32_le()
        .map_err(|_| "it ends before its class ID".to_owned())?;
    let name = string(reader, "its class name")?;
    reader
        .u8()
        .map_err(|_| "it ends before its format byte".to_owned())?;
    let instances = count(reader, "instances", 4)?;
    let name = String::from_utf8_lossy(name).into_owned();
    tally.classes.insert(id, (name, u64::from(instances)));
    tally.instances += u64::from(instances);
    Ok(())
}

/// PRNT: a version byte, a count, then that many child and parent referents.
fn parents(reader: &mut Reader) -> Result<(), String> {
    reader
        .u8()
        .map_err(|_| "it ends before its version".to_owned())?;
    count(reader, "parent links", 8).map(drop)
}

/// PROP: class ID, property name, the value type, then one value per instance of the class.
/// Only the types whose values carry lengths or counts need walking.
fn properties(reader: &mut Reader, tally: &mut Tally) -> Result<(), String> {
    let id = reader
        .u32_le()
        .map_err(|_| "it ends before its class ID".to_owned())?;
    let name = string(reader, "its property name")?;
    // rbx_binary refuses a PROP chunk of an unknown class, and ignores one without a type.
    let Some((_, instances)) = tally.classes.get(&id) else {
        return Ok(());
    };
    let instances = *instances;
    let Ok(kind) = reader.u8() else {
        return Ok(());
    };
    *tally.properties.entry(id).or_default() += 1;
    match kind {
        STRING => {
            let attributes = attributes::is_attributes_property(&String::from_utf8_lossy(name));
            for _ in 0..instances {
                let value = string(reader, "a string value")?;
                if attributes {
                    attributes::check(value)?;
                }
            }
        }
        FONT => {
            for _ in 0..instances {
                string(reader, "a Font's family")?;
                skip(reader, 1, 3, "Font weight and style bytes")?;
                string(reader, "a Font's face")?;
            }
        }
        NUMBER_SEQUENCE => sequences(reader, instances, 12, "NumberSequence keypoints")?,
        COLOR_SEQUENCE => sequences(reader, instances, 20, "ColorSequence keypoints")?,
        CONTENT => content(reader, instances, tally)?,
        _ => {}
    }
    Ok(())
}

fn sequences(reader: &mut Reader, instances: u64, size: u64, what: &str) -> Result<(), String> {
    for _ in 0..instances {
        let keypoints = count(reader, what, size)?;
        skip(reader, u64::from(keypoints), size, what)?;
    }
    Ok(())
}

/// Content: one type per instance, then counted URIs, references and external references.
fn content(reader: &mut Reader, instances: u64, tally: &mut Tally) -> Result<(), String> {
    skip(reader, instances, 4, "Content types")?;
    let uris = count(reader, "Content URIs", 4)?;
    for _ in 0..uris {
        string(reader, "a Content URI")?;
    }
    let objects = count(reader, "Content references", 4)?;
    skip(reader, u64::from(objects), 4, "Content references")?;
    let external = count(reader, "external Content references", 4)?;
    skip(
        reader,
        u64::from(external),
        4,
        "external Content references",
    )?;
    tally.other_values += u64::from(uris) + u64::from(objects);
    Ok(())
}

/// The values the decoder holds: each instance has room for its class's default properties
/// (rbx_binary reserves that much) or for as many as the file gives its class, whichever is
/// more; plus the entries of other chunks.
fn property_values(tally: &Tally) -> u64 {
    let db = rbx_reflection_database::get_bundled();
    let per_class: u64 = tally
        .classes
        .iter()
        .map(|(id, (name, instances))| {
            let defaults = db
                .classes
                .get(name.as_str())
                .map_or(0, |class| class.default_properties.len() as u64);
            let given = tally.properties.get(id).copied().unwrap_or(0);
            instances.saturating_mul(defaults.max(given))
        })
        .fold(0u64, u64::saturating_add);
    per_class.saturating_add(tally.other_values)
}
