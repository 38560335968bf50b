//! A cursor over untrusted bytes for the place checks: every read says what it wanted and how
//! much was left, and nothing is read (or allocated) past the end.

/// Why a read stopped: the bytes ended before what was asked for.
#[derive(Debug)]
pub(super) struct Short {
    pub wanted: u64,
    pub left: usize,
}

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn left(&self) -> usize {
        self.bytes.len()
    }

    /// The next `count` bytes; `count` comes from the file, so it is checked against what is
    /// left before anything is sliced.
    pub fn take(&mut self, count: u64) -> Result<&'a [u8], Short> {
        match usize::try_from(count) {
            Ok(n) if n <= self.bytes.len() => {
                let (head, rest) = self.bytes.split_at(n);
                self.bytes = rest;
                Ok(head)
            }
            _ => Err(Short {
                wanted: count,
                left: self.bytes.len(),
            }),
        }
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    pub fn u16_le(&mut self) -> Result<u16, Short> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32_le(&mut self) -> Result<u32, Short> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-prefixed (u32, little-endian) byte string, as both the binary format and
    /// attribute blobs write them.
    pub fn string(&mut self) -> Result<&'a [u8], Short> {
        let length = self.u32_le()?;
        self.take(u64::from(length))
    }

    /// `count` elements of `size` bytes each, checked as a whole before anything is taken.
    pub fn array(&mut self, count: u64, size: u64) -> Result<&'a [u8], Short> {
        self.take(count.saturating_mul(size))
    }
}
