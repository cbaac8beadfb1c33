//! The identity of the `x509` ACL scheme: a client certificate's subject as Java's
//! `X500Principal.getName()` prints it (RFC 2253), which is what ZooKeeper's
//! `X509AuthenticationProvider` puts in the connection's auth info.
//!
//! ```text
//! Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer Name,
//!                               validity, subject Name, ... }
//! Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF SEQUENCE { type OID, value ANY })
//! ```
//! RFC 2253 lists the RDNs last to first, joined by `,` (`+` inside one RDN); the attribute types
//! Java names (CN, C, L, ST, O, OU, STREET, DC, UID) are spelled so with the value as text, and
//! every other type as its dotted OID with the value as `#` and the hex of its DER encoding.

/// One DER element: its tag, its contents, and the whole encoding.
struct Der<'a> {
    tag: u8,
    body: &'a [u8],
    whole: &'a [u8],
}

/// Splits the first DER element off `input`.
fn take<'a>(input: &mut &'a [u8]) -> Option<Der<'a>> {
    let all = *input;
    let tag = *all.first()?;
    let first = *all.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = len << 8 | *all.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = all.get(..end)?;
    *input = &all[end..];
    Some(Der { tag, body: &whole[header..], whole })
}

/// The subject of a DER certificate as `X500Principal.getName()` prints it, or `None` if the
/// certificate cannot be read.
pub fn subject_name(cert: &[u8]) -> Option<String> {
    let mut input = cert;
    let mut c = take(&mut input)?.body;
    let mut t = take(&mut c)?.body; // tbsCertificate
    if take(&mut t)?.tag == 0xa0 {
        take(&mut t)?; // serialNumber, after the version
    }
    take(&mut t)?; // signature
    take(&mut t)?; // issuer
    take(&mut t)?; // validity
    name_text(take(&mut t)?.body)
}

fn name_text(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let rdn = take(&mut rdns)?;
        let mut atvs = rdn.body;
        let mut pieces = Vec::new();
        while !atvs.is_empty() {
            let atv = take(&mut atvs)?;
            let mut a = atv.body;
            let oid = take(&mut a)?;
            let value = take(&mut a)?;
            pieces.push(attribute(&oid_text(oid.body)?, &value));
        }
        parts.push(pieces.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

fn attribute(oid: &str, value: &Der) -> String {
    let keyword = match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => "",
    };
    // UTF8String, PrintableString, T61String, IA5String; BMPString (UTF-16).
    let text = match value.tag {
        0x0c | 0x13 | 0x14 | 0x16 => std::str::from_utf8(value.body).ok().map(str::to_owned),
        0x1e => {
            let units: Vec<u16> =
                value.body.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    match (keyword, text) {
        ("", _) | (_, None) => {
            let hex: String = value.whole.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
        (k, Some(t)) => format!("{k}={}", escape(&t)),
    }
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn oid_text(body: &[u8]) -> Option<String> {
    let (&first, rest) = body.split_first()?;
    let mut arcs = vec![(first / 40).min(2) as u64, (first as u64).saturating_sub(40 * (first / 40).min(2) as u64)];
    let mut n = 0u64;
    for &b in rest {
        n = n.checked_mul(128)? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            arcs.push(n);
            n = 0;
        }
    }
    Some(arcs.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element with a short length.
    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn atv(oid: &[u8], tag: u8, value: &str) -> Vec<u8> {
        der(0x31, &der(0x30, &[der(0x06, oid), der(tag, value.as_bytes())].concat()))
    }

    #[test]
    fn rfc_2253_order_keywords_escapes_and_oids() {
        let name = [
            atv(&[0x55, 0x04, 0x06], 0x13, "US"),
            atv(&[0x55, 0x04, 0x0a], 0x0c, "Rookery, Inc"),
            atv(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01], 0x16, "a@b"),
            atv(&[0x55, 0x04, 0x03], 0x0c, "client"),
        ]
        .concat();
        let subject = der(0x30, &name);
        let tbs = der(
            0x30,
            &[der(0xa0, &der(0x02, &[2])), der(0x02, &[1]), der(0x30, &[]), der(0x30, &[]), der(0x30, &[]), subject]
                .concat(),
        );
        let cert = der(0x30, &[tbs, der(0x30, &[]), der(0x03, &[0])].concat());
        assert_eq!(subject_name(&cert).unwrap(), "CN=client,1.2.840.113549.1.9.1=#1603614062,O=Rookery\\, Inc,C=US");
        assert_eq!(escape(" #a "), "\\ #a\\ ");
        assert!(subject_name(&[0x30, 0x05, 0x30]).is_none());
    }
}
