//! The two checksums ZooKeeper's files use: Adler-32 (txn log records, snapshot seals) and
//! CRC-32 (IEEE; the per-node digests summed into the tree digest).

/// Adler-32 as `java.util.zip.Adler32`, updatable in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    const MOD: u32 = 65521;
    /// The most bytes that can be summed before `b` could overflow a u32.
    const NMAX: usize = 5552;

    pub fn new() -> Adler32 {
        Adler32::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(Self::NMAX) {
            // Sixteen bytes at a time: b gains 16*a plus the bytes weighted 16..1, which lets
            // the compiler keep the inner sums in vector registers.
            let mut blocks = chunk.chunks_exact(16);
            for blk in &mut blocks {
                let mut sum = 0u32;
                let mut weighted = 0u32;
                for (i, &x) in blk.iter().enumerate() {
                    sum += x as u32;
                    weighted += (16 - i as u32) * x as u32;
                }
                self.b += 16 * self.a + weighted;
                self.a += sum;
            }
            for &x in blocks.remainder() {
                self.a += x as u32;
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    pub fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }

    pub fn of(bytes: &[u8]) -> u32 {
        let mut a = Adler32::new();
        a.update(bytes);
        a.value()
    }
}

/// Slicing-by-8 tables: `[0]` is the classic byte table, `[k][i]` is the CRC of byte `i`
/// followed by `k` zero bytes, so eight input bytes are folded in with eight lookups at once.
const fn crc32_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

static CRC32_TABLES: [[u32; 256]; 8] = crc32_tables();

/// CRC-32 (IEEE 802.3) as `java.util.zip.CRC32`, updatable in pieces.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32(u32);

impl Crc32 {
    pub fn new() -> Crc32 {
        Crc32(0)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let t = &CRC32_TABLES;
        let mut c = !self.0;
        let mut chunks = bytes.chunks_exact(8);
        for b in &mut chunks {
            let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            c = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][b[4] as usize]
                ^ t[2][b[5] as usize]
                ^ t[1][b[6] as usize]
                ^ t[0][b[7] as usize];
        }
        for &x in chunks.remainder() {
            c = t[0][((c ^ x as u32) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = !c;
    }

    pub fn value(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(Adler32::of(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(Adler32::of(b""), 1);
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.value(), 0xCBF4_3926);
        // Slicing-by-8 against the bitwise definition, in odd pieces.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 253) as u8).collect();
        let bitwise = |bytes: &[u8]| {
            let mut c = !0u32;
            for &x in bytes {
                c ^= x as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                }
            }
            !c
        };
        let mut pieces = Crc32::new();
        for part in data.chunks(13) {
            pieces.update(part);
        }
        assert_eq!(pieces.value(), bitwise(&data));
    }

    #[test]
    fn adler_in_pieces_equals_whole() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut a = Adler32::new();
        a.update(&data[..3]);
        a.update(&data[3..9000]);
        a.update(&data[9000..]);
        assert_eq!(a.value(), Adler32::of(&data));
        // Against the definition, with all-0xff runs (the largest sums) in odd-sized pieces.
        let naive = |bytes: &[u8]| {
            let (mut a, mut b) = (1u64, 0u64);
            for &x in bytes {
                a = (a + x as u64) % 65521;
                b = (b + a) % 65521;
            }
            ((b << 16) | a) as u32
        };
        let ff = vec![0xffu8; 50_000];
        let mut pieces = Adler32::new();
        for part in ff.chunks(4099) {
            pieces.update(part);
        }
        assert_eq!(pieces.value(), naive(&ff));
        assert_eq!(Adler32::of(&data[7..12_345]), naive(&data[7..12_345]));
    }
}
