//! Little-endian byte encoding helpers shared by the WAL records and the segment index
//! files: a writer that appends, and a reader that checks every bound.

use vigil_model::{Label, Labels};

use crate::LogStoreError;

#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn labels(&mut self, labels: &Labels) {
        self.u32(labels.len() as u32);
        for label in labels {
            self.bytes(label.name.as_bytes());
            self.bytes(label.value.as_bytes());
        }
    }
}

pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'a str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'a str) -> Self {
        Self { data, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], LogStoreError> {
        if self.data.len() < n {
            return Err(LogStoreError::corrupt(
                self.what,
                format!("needs {n} more bytes, {} left", self.data.len()),
            ));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LogStoreError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, LogStoreError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, LogStoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, LogStoreError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], LogStoreError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub(crate) fn string(&mut self) -> Result<String, LogStoreError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| LogStoreError::corrupt(self.what, "string is not utf-8"))
    }
    pub(crate) fn labels(&mut self) -> Result<Labels, LogStoreError> {
        let count = self.u32()? as usize;
        let mut labels = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            labels.push(Label::new(self.string()?, self.string()?));
        }
        Labels::from_unsorted_unique(labels)
            .map_err(|err| LogStoreError::corrupt(self.what, err.to_string()))
    }
}

/// Appends a CRC32C of everything so far.
pub(crate) fn seal(mut buf: Vec<u8>) -> Vec<u8> {
    let crc = crc32c::crc32c(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// Checks and strips the trailing CRC32C.
pub(crate) fn unseal<'a>(data: &'a [u8], what: &str) -> Result<&'a [u8], LogStoreError> {
    if data.len() < 4 {
        return Err(LogStoreError::corrupt(what, "shorter than its checksum"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(crc);
    if crc32c::crc32c(body) != u32::from_le_bytes(stored) {
        return Err(LogStoreError::corrupt(what, "checksum mismatch"));
    }
    Ok(body)
}
