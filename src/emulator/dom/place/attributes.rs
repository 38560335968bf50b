//! Attribute blobs (`AttributesSerialize`, and any property the class database types as
//! `Attributes`): rbx_types reads them with allocations sized by counts inside the blob, before
//! it reads what they count. This walks a blob as that reader does and refuses a count larger
//! than the bytes left could hold; wherever the reader itself would stop (an unknown type, bad
//! UTF-8, a short read) the walk stops too and lets it, as the decoders then keep the blob as
//! plain bytes.

use std::collections::HashSet;
use std::sync::OnceLock;

use rbx_dom_weak::types::{BrickColor, Matrix3, VariantType};
use rbx_reflection::PropertyKind;

use super::reader::{Reader, Short};

/// Bytes a keypoint takes in an attribute blob: NumberSequence (envelope, time, value) and
/// ColorSequence (envelope, time, r, g, b).
const NUMBER_KEYPOINT_BYTES: u64 = 12;
const COLOR_KEYPOINT_BYTES: u64 = 20;

/// Property names (canonical and serialized) that the class database types as attributes.
/// Names are matched whatever the class: checking one blob too many costs nothing.
pub(super) fn is_attributes_property(name: &str) -> bool {
    static NAMES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            let db = rbx_reflection_database::get_bundled();
            let mut names = HashSet::new();
            for class in db.classes.values() {
                for property in class.properties.values() {
                    if property.data_type.ty() != VariantType::Attributes {
                        continue;
                    }
                    names.insert(property.name.as_ref());
                    if let PropertyKind::Canonical {
                        serialization: rbx_reflection::PropertySerialization::SerializesAs(alias),
                    } = &property.kind
                    {
                        names.insert(*alias);
                    }
                }
            }
            names
        })
        .contains(name)
}

/// `Err` names the count that claims more than the blob holds.
pub(super) fn check(blob: &[u8]) -> Result<(), String> {
    let mut reader = Reader::new(blob);
    match walk(&mut reader) {
        Ok(()) | Err(Stop::ReaderStops) => Ok(()),
        Err(Stop::Overclaim(problem)) => Err(problem),
    }
}

enum Stop {
    /// The decoder stops here without harm (and keeps the blob as bytes).
    ReaderStops,
    /// The decoder would allocate for more than the blob holds.
    Overclaim(String),
}

impl From<Short> for Stop {
    fn from(_: Short) -> Self {
        Stop::ReaderStops
    }
}

fn walk(reader: &mut Reader) -> Result<(), Stop> {
    if reader.left() == 0 {
        return Ok(());
    }
    let count = reader.u32_le()?;
    for _ in 0..count {
        let key = sized_string(reader, "an attribute's name")?;
        utf8(key)?;
        value(reader)?;
    }
    Ok(())
}

/// One attribute value, by the type byte before it (rbx_types' numbering).
fn value(reader: &mut Reader) -> Result<(), Stop> {
    match reader.u8()? {
        0x02 => sized_string(reader, "a string attribute").map(drop),
        0x03 => skip(reader, 1),
        0x04 | 0x05 => skip(reader, 4),
        0x06 | 0x09 | 0x10 | 0x1B => skip(reader, 8),
        0x0A | 0x1C => skip(reader, 16),
        0x0F | 0x11 => skip(reader, 12),
        0x0E => {
            // The reader stops at a BrickColor number it does not know.
            let number = reader.u32_le()?;
            match BrickColor::from_number(number as u16) {
                Some(_) => Ok(()),
                None => Err(Stop::ReaderStops),
            }
        }
        0x14 => {
            skip(reader, 12)?;
            match reader.u8()? {
                0 => skip(reader, 36),
                id if Matrix3::from_basic_rotation_id(id).is_ok() => Ok(()),
                _ => Err(Stop::ReaderStops),
            }
        }
        0x15 => {
            let enum_name = sized_string(reader, "an enum attribute's type")?;
            skip(reader, 4)?;
            utf8(enum_name)
        }
        0x17 => sequence(reader, "a NumberSequence attribute", NUMBER_KEYPOINT_BYTES),
        0x19 => sequence(reader, "a ColorSequence attribute", COLOR_KEYPOINT_BYTES),
        0x21 => {
            skip(reader, 3)?;
            let family = sized_string(reader, "a Font attribute's family")?;
            utf8(family)?;
            let face = sized_string(reader, "a Font attribute's face")?;
            utf8(face)
        }
        // A type rbx_types does not know: it stops and keeps the blob as bytes.
        _ => Err(Stop::ReaderStops),
    }
}

fn skip(reader: &mut Reader, size: u64) -> Result<(), Stop> {
    reader.take(size).map(drop).map_err(Stop::from)
}

fn utf8(text: &[u8]) -> Result<(), Stop> {
    std::str::from_utf8(text)
        .map(drop)
        .map_err(|_| Stop::ReaderStops)
}

/// A u32 keypoint count, then the keypoints: the reader reserves room for all of them first.
fn sequence(reader: &mut Reader, what: &str, keypoint_bytes: u64) -> Result<(), Stop> {
    let count = reader.u32_le()?;
    reader
        .array(u64::from(count), keypoint_bytes)
        .map(drop)
        .map_err(|short| {
            Stop::Overclaim(format!(
                "{what} claims {count} keypoints, but its attribute blob has {} bytes left",
                short.left
            ))
        })
}

/// A u32-prefixed string whose length the reader allocates before reading it.
fn sized_string<'a>(reader: &mut Reader<'a>, what: &str) -> Result<&'a [u8], Stop> {
    let length = reader.u32_le()?;
    reader.take(u64::from(length)).map_err(|short| {
        Stop::Overclaim(format!(
            "{what} claims {length} bytes, but its attribute blob has {} left",
            short.left
        ))
    })
}
