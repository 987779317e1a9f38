//! URL signatures: `base64url_nopad(HMAC-SHA256(key, salt || path))`, truncated (SPEC §2 "Signature").
//!
//! This module owns the only comparison of a client-supplied signature. It is checked before any
//! option is parsed (as imgproxy `handlers/processing/handler.go`), so a forged URL never reaches the
//! option parser. It knows nothing of options or sources: it signs and verifies opaque path strings.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::ParseError;
use crate::config::SigningPair;

type HmacSha256 = Hmac<Sha256>;

/// The full digest size; `IMGPROXY_SIGNATURE_SIZE` may keep fewer bytes.
const DIGEST_BYTES: usize = 32;

/// The signature for `path` (everything after the signature segment, leading `/` included) with one
/// key/salt pair, keeping the first `size` bytes of the digest (clamped to 1..=32).
pub fn sign_path(pair: &SigningPair, path: &str, size: usize) -> String {
    match digest(pair, path) {
        Some(mac) => URL_SAFE_NO_PAD.encode(&mac[..clamp_size(size)]),
        // HMAC accepts keys of any length, so `digest` cannot fail; an empty string never verifies.
        None => String::new(),
    }
}

/// Checks `signature` against every configured pair; with no pairs any value is accepted (unsigned
/// mode, as imgproxy with `IMGPROXY_KEY` unset). The comparison is constant-time and every pair is
/// tried, so timing reveals neither how many bytes matched nor which pair did.
pub fn verify(pairs: &[SigningPair], size: usize, signature: &str, path: &str) -> Result<(), ParseError> {
    if pairs.is_empty() {
        return Ok(());
    }
    // imgproxy decodes with `base64.RawURLEncoding`: padding or a foreign alphabet is a mismatch.
    let Ok(given) = URL_SAFE_NO_PAD.decode(signature.as_bytes()) else {
        return Err(ParseError::SignatureMismatch);
    };
    let size = clamp_size(size);
    let mut matched = Choice::from(0);
    for pair in pairs {
        if let Some(mac) = digest(pair, path) {
            // `ct_eq` on slices of different lengths is false without comparing bytes; the length
            // of a signature is public anyway.
            matched |= mac[..size].ct_eq(&given);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(ParseError::SignatureMismatch)
    }
}

fn clamp_size(size: usize) -> usize {
    size.clamp(1, DIGEST_BYTES)
}

/// `HMAC-SHA256(key, salt || path)`.
fn digest(pair: &SigningPair, path: &str) -> Option<[u8; DIGEST_BYTES]> {
    let mut mac = HmacSha256::new_from_slice(&pair.key).ok()?;
    mac.update(&pair.salt);
    mac.update(path.as_bytes());
    Some(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &[u8], salt: &[u8]) -> SigningPair {
        SigningPair { key: key.to_vec(), salt: salt.to_vec() }
    }

    fn hex_pair(key: &str, salt: &str) -> SigningPair {
        pair(&hex::decode(key).unwrap(), &hex::decode(salt).unwrap())
    }

    const DOCS_PATH: &str = "/fill/300/400/sm/0/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";

    /// imgproxy's own worked example, `docs/signing_the_url.md` in imgproxy/imgproxy ("Signing the
    /// URL" → "Example"): key `secret` (hex 736563726574), salt `hello` (hex 68656C6C6F).
    #[test]
    fn imgproxy_documented_example() {
        let docs = hex_pair("736563726574", "68656C6C6F");
        assert_eq!(sign_path(&docs, DOCS_PATH, 32), "AfrOrF3gWeDA6VOlDG4TzxMv39O7MXnF4CXpKUwGqRM");
        assert_eq!(verify(&[docs], 32, "AfrOrF3gWeDA6VOlDG4TzxMv39O7MXnF4CXpKUwGqRM", DOCS_PATH), Ok(()));
    }

    /// Vectors computed independently with Python:
    /// `python3 -c "import hmac,hashlib,base64; k=bytes.fromhex(K); s=bytes.fromhex(S);
    ///  print(base64.urlsafe_b64encode(hmac.new(k, s+P.encode(), hashlib.sha256).digest()[:N]).rstrip(b'=').decode())"`
    #[test]
    fn python_vectors() {
        let long = hex_pair(
            "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881",
            "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5",
        );
        let short = hex_pair("0011223344556677", "aabbcc");
        let plain = "/rs:fill:300:300:1/g:no/plain/http://img.example.com/pretty/image.jpg@png";
        let encoded = "/w:100/aHR0cDovL2V4YW1wbGUuY29tL2EucG5n.webp";
        let docs_advanced = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
        let rows: [(&str, &SigningPair, &str, usize, &str); 4] = [
            ("full digest, plain source", &long, plain, 32, "AJG2WrEN0__fVyVG_Q1se_Ra_K2dOnVnV0m9AgWGwvc"),
            ("truncated to 8 bytes", &long, plain, 8, "AJG2WrEN0_8"),
            ("short key, base64 source", &short, encoded, 32, "7SryW-X4mjBuiZj0PyQgF1ZgfvdJOVMKtCf6NvNtkps"),
            (
                "docs pair, advanced options",
                &hex_pair("736563726574", "68656C6C6F"),
                docs_advanced,
                32,
                "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8",
            ),
        ];
        for (name, pair, path, size, expected) in rows {
            assert_eq!(sign_path(pair, path, size), expected, "{name}");
            assert_eq!(verify(std::slice::from_ref(pair), size, expected, path), Ok(()), "{name}");
        }
    }

    #[test]
    fn truncated_signature_must_match_configured_size() {
        let p = pair(b"k", b"s");
        let short = sign_path(&p, "/x", 8);
        let full = sign_path(&p, "/x", 32);
        assert!(full.starts_with(&short[..10]));
        assert_eq!(verify(std::slice::from_ref(&p), 8, &short, "/x"), Ok(()));
        assert_eq!(verify(std::slice::from_ref(&p), 8, &full, "/x"), Err(ParseError::SignatureMismatch));
        assert_eq!(verify(std::slice::from_ref(&p), 32, &short, "/x"), Err(ParseError::SignatureMismatch));
    }

    #[test]
    fn any_of_several_pairs_may_match() {
        let pairs = [pair(b"one", b"a"), pair(b"two", b"b"), pair(b"three", b"c")];
        for p in &pairs {
            assert_eq!(verify(&pairs, 32, &sign_path(p, "/w:1/plain/x", 32), "/w:1/plain/x"), Ok(()));
        }
        let stranger = sign_path(&pair(b"four", b"d"), "/w:1/plain/x", 32);
        assert_eq!(verify(&pairs, 32, &stranger, "/w:1/plain/x"), Err(ParseError::SignatureMismatch));
    }

    #[test]
    fn rejects() {
        let p = [pair(b"secret", b"hello")];
        let good = sign_path(&p[0], "/a", 32);
        let rows = [
            ("other path", good.clone(), "/b"),
            ("not base64", "!!!".to_string(), "/a"),
            ("padded", format!("{good}="), "/a"),
            ("empty", String::new(), "/a"),
            ("unsafe token", "unsafe".to_string(), "/a"),
        ];
        for (name, sig, path) in rows {
            assert_eq!(verify(&p, 32, &sig, path), Err(ParseError::SignatureMismatch), "{name}");
        }
    }

    #[test]
    fn unsigned_mode_accepts_anything() {
        for sig in ["insecure", "unsafe", "_", "", "garbage!"] {
            assert_eq!(verify(&[], 32, sig, "/a"), Ok(()), "{sig}");
        }
    }
}
