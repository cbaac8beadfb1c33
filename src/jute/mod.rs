//! Jute, ZooKeeper's record encoding (`BinaryOutputArchive` / `BinaryInputArchive`).
//!
//! ```text
//! byte     1 byte            boolean  1 byte, 0 or 1
//! int      4 bytes, BE       long     8 bytes, BE
//! ustring  int len + UTF-8   (len -1 = null)
//! buffer   int len + bytes   (len -1 = null, 0 = empty)
//! vector   int count + elements (count -1 = null)
//! record   its fields in declaration order: no tag, no length, no padding
//! ```
//!
//! Every length read from the wire is checked against the bytes that are actually left before
//! anything is allocated, so a hostile length can never make us reserve memory.

pub mod data;
pub mod proto;
pub mod quorum;
pub mod txn;
pub mod txn_body;

use byteorder::{BigEndian, ByteOrder};
use std::fmt;

/// Why a record could not be decoded. Every variant is the sender's fault, never ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a field.
    Truncated { needed: usize, left: usize },
    /// A length prefix that is negative (other than -1 for null) or longer than the input.
    BadLength(i32),
    /// A boolean byte other than 0 or 1.
    BadBool(u8),
    /// A value that decodes but has no meaning here (unknown opcode, bad enum value).
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, left } => {
                write!(f, "truncated record: needed {needed} bytes, {left} left")
            }
            DecodeError::BadLength(n) => write!(f, "unreasonable length {n}"),
            DecodeError::BadBool(b) => write!(f, "bad boolean byte 0x{b:02x}"),
            DecodeError::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub type Result<T> = std::result::Result<T, DecodeError>;

/// A cursor over one received frame.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { needed: n, left: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn read_bool(&mut self) -> Result<bool> {
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::BadBool(b)),
        }
    }

    pub fn read_i32(&mut self) -> Result<i32> {
        Ok(BigEndian::read_i32(self.take(4)?))
    }

    pub fn read_i64(&mut self) -> Result<i64> {
        Ok(BigEndian::read_i64(self.take(8)?))
    }

    /// A length prefix: `None` for -1 (null), an error for any other negative value or for a
    /// length that the rest of the input cannot hold (each element takes at least `min_item` bytes).
    fn read_len(&mut self, min_item: usize) -> Result<Option<usize>> {
        let n = self.read_i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 || (n as usize).saturating_mul(min_item) > self.remaining() {
            return Err(DecodeError::BadLength(n));
        }
        Ok(Some(n as usize))
    }

    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A ustring. Java writes strings as modified UTF-8 of UTF-16 units, so a lone surrogate can
    /// arrive; like Java's decoder we replace what is not valid UTF-8 rather than fail.
    pub fn read_ustring(&mut self) -> Result<Option<String>> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(String::from_utf8_lossy(self.take(n)?).into_owned())),
        }
    }

    /// A vector's element count (`None` for null). Elements are at least one byte each.
    pub fn read_count(&mut self) -> Result<Option<usize>> {
        self.read_len(1)
    }
}

/// Appends jute fields to a byte vector.
pub trait JuteWrite {
    fn put_u8(&mut self, v: u8);
    fn put_bool(&mut self, v: bool);
    fn put_i32(&mut self, v: i32);
    fn put_i64(&mut self, v: i64);
    fn put_buffer(&mut self, v: Option<&[u8]>);
    fn put_ustring(&mut self, v: Option<&str>);
}

impl JuteWrite for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_bool(&mut self, v: bool) {
        self.push(v as u8);
    }
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_i32(-1),
            Some(b) => {
                self.put_i32(b.len() as i32);
                self.extend_from_slice(b);
            }
        }
    }
    fn put_ustring(&mut self, v: Option<&str>) {
        self.put_buffer(v.map(str::as_bytes));
    }
}

/// A jute record: fields concatenated in declaration order.
pub trait Record: Sized {
    fn write(&self, out: &mut Vec<u8>);
    fn read(r: &mut Reader<'_>) -> Result<Self>;

    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// Decodes a record from the start of `buf`. Trailing bytes are ignored, as ZooKeeper does.
    fn from_bytes(buf: &[u8]) -> Result<Self> {
        Self::read(&mut Reader::new(buf))
    }
}

/// A field type of a record. `String` is a ustring that is never null (null reads as ""),
/// `Option<String>` keeps null; `Option<Vec<u8>>` is a buffer that keeps null; `Vec<T>` is a
/// vector whose null reads as empty.
pub trait Field: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get(r: &mut Reader<'_>) -> Result<Self>;
}

impl Field for i32 {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_i32(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.read_i32()
    }
}

impl Field for i64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_i64(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.read_i64()
    }
}

impl Field for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_bool(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.read_bool()
    }
}

impl Field for String {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_ustring(Some(self))
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        Ok(r.read_ustring()?.unwrap_or_default())
    }
}

impl Field for Option<String> {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_ustring(self.as_deref())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.read_ustring()
    }
}

impl Field for Option<Vec<u8>> {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_buffer(self.as_deref())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.read_buffer()
    }
}

impl<T: Field> Field for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        out.put_i32(self.len() as i32);
        for item in self {
            item.put(out);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        let n = r.read_count()?.unwrap_or(0);
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::get(r)?);
        }
        Ok(v)
    }
}

/// Declares a jute record: a struct whose fields are encoded in declaration order.
#[macro_export]
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $crate::jute::Record for $name {
            #[allow(unused_variables)]
            fn write(&self, out: &mut Vec<u8>) {
                $($crate::jute::Field::put(&self.$field, out);)*
            }
            #[allow(unused_variables)]
            fn read(r: &mut $crate::jute::Reader<'_>) -> $crate::jute::Result<Self> {
                Ok($name { $($field: <$ty as $crate::jute::Field>::get(r)?),* })
            }
        }

        impl $crate::jute::Field for $name {
            fn put(&self, out: &mut Vec<u8>) {
                $crate::jute::Record::write(self, out)
            }
            fn get(r: &mut $crate::jute::Reader<'_>) -> $crate::jute::Result<Self> {
                <$name as $crate::jute::Record>::read(r)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_are_distinct() {
        let mut v = Vec::new();
        v.put_ustring(None);
        v.put_buffer(Some(&[]));
        assert_eq!(v, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let mut r = Reader::new(&v);
        assert_eq!(r.read_ustring().unwrap(), None);
        assert_eq!(r.read_buffer().unwrap(), Some(vec![]));
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        for bytes in [[0x7f, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xfe], [0, 0, 0, 5]] {
            let mut r = Reader::new(&bytes);
            assert!(matches!(r.read_buffer(), Err(DecodeError::BadLength(_))));
        }
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(<Vec<i64> as Field>::get(&mut r).is_err());
    }

    #[test]
    fn truncated_fields_are_errors() {
        assert!(Reader::new(&[0, 0, 1]).read_i32().is_err());
        assert!(Reader::new(&[2]).read_bool().is_err());
    }
}
