//! Place files in, instance trees out: the one door every `.rbxl` and `.rbxlx` goes through
//! (the emulator's upload route, and each task's load). A place file is untrusted input, and
//! whatever it holds ends as a tree or as a one-line refusal, never as a crash:
//!
//! - it is checked before the Rojo crates decode it ([`binary`], [`xml`]): they size
//!   allocations by counts the file states and recurse on XML nesting, so an unchecked file
//!   can abort the process (an allocation failure is an abort, not a panic) or overflow the
//!   stack;
//! - it is decoded on a thread of its own, whose stack is sized for the deepest nesting the
//!   check lets through, and whose panics (the crates `panic!` on some malformed input) become
//!   refusals;
//! - what it can make the process hold is bounded by the limits below.

mod attributes;
mod binary;
mod reader;
mod xml;

use rbx_dom_weak::WeakDom;

use crate::roblox::MAX_PLACE_FILE_BYTES;

/// All chunks of a binary place together inflate to at most this (25 times the largest place
/// file; Roblox compresses a place about 3 to 8 times).
pub const MAX_INFLATED_BYTES: u64 = 256 * 1024 * 1024;
/// Instances a place may have: about 1.5 KB each while decoded (500,000 Folders peak at
/// 750 MB for a whole local run, measured on the release build).
pub const MAX_INSTANCES: u64 = 500_000;
/// Property values a binary place may make the decoder hold, about 170 bytes each at the
/// peak: every instance of a class has room for the class's default properties (rbx_binary
/// reserves it) or for as many as the file writes for the class, whichever is more; metadata,
/// shared strings and content references count too. With the instance limit this bounds the
/// costliest file at about 2 GB and 13 s for a whole local run (470,000 instances with 17
/// values each, from a 54 KB file); a Part has 57 default properties, so 140,000 Parts fit.
pub const MAX_PROPERTY_VALUES: u64 = 8_000_000;
/// XML elements may nest this deep (an instance is one level; Roblox places rarely pass 50).
/// The XML parser's cost grows with the square of the depth (a 1,000-deep file parses in
/// milliseconds, an 8,000-deep one in a second), and rbx_xml recurses once per level.
pub const MAX_XML_DEPTH: usize = 1_000;

/// rbx_xml uses up to about 3.6 KB of stack per level of nesting (unoptimized builds; a fifth
/// of that optimized): 16 MiB holds `MAX_XML_DEPTH` four times over. Only the pages used are
/// ever committed.
const DECODER_STACK_BYTES: usize = 16 * 1024 * 1024;
const DECODER_THREAD: &str = "luau-exec place decoder";

/// Why a place could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("the place file could not be read as a binary place (.rbxl): {0}")]
    Binary(String),
    #[error("the place file could not be read as an XML place (.rbxlx): {0}")]
    Xml(String),
    #[error("the place file is {0} bytes, over the {MAX_PLACE_FILE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not the file's fault: the machine could not start the decoder.
    #[error("the place decoder could not start: {0}")]
    Decoder(String),
}

impl PlaceError {
    /// Whether the file itself is at fault (a refusal), rather than this machine.
    pub fn is_the_files_fault(&self) -> bool {
        !matches!(self, Self::Decoder(_))
    }
}

/// Reads a place file, binary (`<roblox!`) or XML, within the limits above.
pub fn load_place(bytes: &[u8]) -> Result<WeakDom, PlaceError> {
    if bytes.len() as u64 > MAX_PLACE_FILE_BYTES {
        return Err(PlaceError::TooLarge(bytes.len()));
    }
    quiet_decoder_panics();
    std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name(DECODER_THREAD.into())
            .stack_size(DECODER_STACK_BYTES)
            .spawn_scoped(scope, || decode(bytes))
            .map_err(|error| PlaceError::Decoder(error.to_string()))?;
        decoder
            .join()
            .unwrap_or_else(|panic| Err(refusal(bytes, panic_message(panic.as_ref()))))
    })
}

fn is_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(b"<roblox!")
}

fn decode(bytes: &[u8]) -> Result<WeakDom, PlaceError> {
    if is_binary(bytes) {
        binary::check(bytes).map_err(PlaceError::Binary)?;
        rbx_binary::from_reader(bytes).map_err(|e| refusal(bytes, e.to_string()))
    } else {
        xml::check(bytes).map_err(PlaceError::Xml)?;
        rbx_xml::from_reader_default(bytes).map_err(|e| refusal(bytes, e.to_string()))
    }
}

/// A decoder's complaint as a one-line refusal of the file's format.
fn refusal(bytes: &[u8], problem: String) -> PlaceError {
    let line = problem.split_whitespace().collect::<Vec<_>>().join(" ");
    if is_binary(bytes) {
        PlaceError::Binary(line)
    } else {
        PlaceError::Xml(line)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("the decoder gave up on malformed data ({text})")
}

/// A decoder's panic is a refusal, reported once as such: the default hook would also print
/// it (with a backtrace hint) on the emulator's stderr, which is the user's terminal on the
/// local backend. Panics anywhere else still reach the previous hook.
fn quiet_decoder_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(DECODER_THREAD) {
                previous(info);
            }
        }));
    });
}
