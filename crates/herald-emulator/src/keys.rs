//! The emulator's RSA signing keys: it signs the tokens it issues as the identity platform and
//! the tokens it puts on activities as the Bot Connector, and publishes them as a JWKS whose
//! keys carry `endorsements: ["msteams"]`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use herald_wire::aad::{Jwk, Jwks};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::RwLock;
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// Channels that endorse every key, as Bot Framework's JWKS does for Teams.
pub const ENDORSEMENTS: [&str; 1] = ["msteams"];
/// How many keys the JWKS keeps: the signing key and the one before it, so tokens signed just
/// before a rotation stay verifiable.
const KEPT_KEYS: usize = 2;

pub struct KeyPair {
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub jwk: Jwk,
}

impl KeyPair {
    pub fn generate() -> anyhow::Result<Self> {
        let mut rng = rand::rngs::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
        let der = private.to_pkcs1_der()?;
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let mut kid = [0u8; 15];
        rng.fill_bytes(&mut kid);
        let kid = URL_SAFE_NO_PAD.encode(kid);
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_components(&n, &e)?,
            jwk: Jwk {
                kty: "RSA".into(),
                use_: Some("sig".into()),
                kid: kid.clone(),
                x5t: Some(kid.clone()),
                n,
                e,
                alg: None,
                endorsements: ENDORSEMENTS.iter().map(|s| s.to_string()).collect(),
            },
            kid,
        })
    }
}

pub struct Keys {
    keys: RwLock<Vec<Arc<KeyPair>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("no key with kid `{0}`")]
    UnknownKey(String),
    #[error("bad signature or claims: {0}")]
    Invalid(String),
}

impl Keys {
    pub fn new(first: KeyPair) -> Self {
        Self {
            keys: RwLock::new(vec![Arc::new(first)]),
        }
    }

    pub fn current(&self) -> Arc<KeyPair> {
        self.keys.read()[0].clone()
    }

    /// Signs with `next` from now on; the previous key stays published.
    pub fn rotate(&self, next: KeyPair) -> String {
        let kid = next.kid.clone();
        let mut keys = self.keys.write();
        keys.insert(0, Arc::new(next));
        keys.truncate(KEPT_KEYS);
        kid
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.read().iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> (String, String) {
        let key = self.current();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, claims, &key.encoding)
            .expect("RS256 signing with a freshly generated key cannot fail");
        (token, key.kid.clone())
    }

    /// Checks the signature only; the caller checks `aud`, `exp` and the rest against the
    /// emulator's clock, which may not be the system's.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        let kid = header.kid.unwrap_or_default();
        let key = self
            .keys
            .read()
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .ok_or_else(|| VerifyError::UnknownKey(kid.clone()))?;
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}
