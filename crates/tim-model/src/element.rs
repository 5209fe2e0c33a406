//! The `TIMMsgElement` formats of digest §5: `{"MsgType": …, "MsgContent": {…}}`.
//!
//! Decoding is lenient: an unknown `MsgType` becomes [`MsgElement::Unknown`] with its content kept,
//! and unknown fields inside a known element are kept in `extra`. Encoding reproduces the wire:
//! optional fields that were absent stay absent, and floating-point coordinates keep the exact
//! number that was read.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};
use std::collections::BTreeMap;

/// Fields of an element that this crate does not model, kept verbatim.
pub type Extra = BTreeMap<String, Value>;

/// The kind of an element, i.e. its `MsgType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ElementKind {
    /// `TIMTextElem`.
    #[serde(rename = "TIMTextElem")]
    Text,
    /// `TIMFaceElem`.
    #[serde(rename = "TIMFaceElem")]
    Face,
    /// `TIMLocationElem`.
    #[serde(rename = "TIMLocationElem")]
    Location,
    /// `TIMCustomElem`.
    #[serde(rename = "TIMCustomElem")]
    Custom,
    /// `TIMSoundElem`.
    #[serde(rename = "TIMSoundElem")]
    Sound,
    /// `TIMImageElem`.
    #[serde(rename = "TIMImageElem")]
    Image,
    /// `TIMFileElem`.
    #[serde(rename = "TIMFileElem")]
    File,
    /// `TIMVideoFileElem`.
    #[serde(rename = "TIMVideoFileElem")]
    Video,
}

impl ElementKind {
    /// All eight kinds.
    pub const ALL: [ElementKind; 8] = [
        ElementKind::Text,
        ElementKind::Face,
        ElementKind::Location,
        ElementKind::Custom,
        ElementKind::Sound,
        ElementKind::Image,
        ElementKind::File,
        ElementKind::Video,
    ];

    /// The four kinds the seed document lists for import (§2.8).
    pub const SEED_IMPORT: [ElementKind; 4] = [
        ElementKind::Text,
        ElementKind::Face,
        ElementKind::Location,
        ElementKind::Custom,
    ];

    /// The `MsgType` string.
    pub const fn msg_type(self) -> &'static str {
        match self {
            ElementKind::Text => "TIMTextElem",
            ElementKind::Face => "TIMFaceElem",
            ElementKind::Location => "TIMLocationElem",
            ElementKind::Custom => "TIMCustomElem",
            ElementKind::Sound => "TIMSoundElem",
            ElementKind::Image => "TIMImageElem",
            ElementKind::File => "TIMFileElem",
            ElementKind::Video => "TIMVideoFileElem",
        }
    }

    /// Looks a kind up by its `MsgType`.
    pub fn from_msg_type(s: &str) -> Option<ElementKind> {
        ElementKind::ALL.into_iter().find(|k| k.msg_type() == s)
    }
}

/// `TIMTextElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextElem {
    /// The text.
    #[serde(rename = "Text")]
    pub text: String,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMFaceElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceElem {
    /// Face index.
    #[serde(rename = "Index")]
    pub index: i64,
    /// Extra data (may contain control characters, as in the seed sample).
    #[serde(rename = "Data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMLocationElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationElem {
    /// Description of the place.
    #[serde(rename = "Desc", default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Latitude, kept as the exact JSON number read.
    #[serde(rename = "Latitude")]
    pub latitude: Number,
    /// Longitude, kept as the exact JSON number read.
    #[serde(rename = "Longitude")]
    pub longitude: Number,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMCustomElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomElem {
    /// Custom payload.
    #[serde(rename = "Data")]
    pub data: String,
    /// Description.
    #[serde(rename = "Desc", default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Extension.
    #[serde(rename = "Ext", default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    /// Custom push sound.
    #[serde(rename = "Sound", default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMSoundElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoundElem {
    /// Download URL (required for REST senders; checked by validation).
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Unique ID (required for REST senders; checked by validation).
    #[serde(rename = "UUID", default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Size in bytes.
    #[serde(rename = "Size", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Duration in seconds.
    #[serde(rename = "Second", default, skip_serializing_if = "Option::is_none")]
    pub second: Option<u64>,
    /// Download flag; must be 2.
    #[serde(
        rename = "Download_Flag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_flag: Option<i64>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `TIMImageElem.ImageInfoArray`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// 1 original, 2 large, 3 thumbnail.
    #[serde(rename = "Type")]
    pub kind: i64,
    /// Size in bytes.
    #[serde(rename = "Size", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Width in pixels.
    #[serde(rename = "Width", default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    /// Height in pixels.
    #[serde(rename = "Height", default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Download URL.
    #[serde(rename = "URL", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMImageElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageElem {
    /// Unique ID.
    #[serde(rename = "UUID", default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// 1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other.
    #[serde(
        rename = "ImageFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_format: Option<i64>,
    /// The renditions.
    #[serde(
        rename = "ImageInfoArray",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_info_array: Option<Vec<ImageInfo>>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMFileElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileElem {
    /// Download URL.
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Unique ID.
    #[serde(rename = "UUID", default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Size in bytes.
    #[serde(rename = "FileSize", default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// File name.
    #[serde(rename = "FileName", default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Download flag; must be 2.
    #[serde(
        rename = "Download_Flag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_flag: Option<i64>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TIMVideoFileElem` content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VideoFileElem {
    /// Video download URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// Video unique ID.
    #[serde(rename = "VideoUUID", default, skip_serializing_if = "Option::is_none")]
    pub video_uuid: Option<String>,
    /// Video size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_size: Option<u64>,
    /// Video duration in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_second: Option<u64>,
    /// Video container format, e.g. `mp4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_format: Option<String>,
    /// Video download flag; must be 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_download_flag: Option<i64>,
    /// Thumbnail download URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    /// Thumbnail unique ID.
    #[serde(rename = "ThumbUUID", default, skip_serializing_if = "Option::is_none")]
    pub thumb_uuid: Option<String>,
    /// Thumbnail size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_size: Option<u64>,
    /// Thumbnail width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_width: Option<u64>,
    /// Thumbnail height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_height: Option<u64>,
    /// Thumbnail format, e.g. `JPG`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_format: Option<String>,
    /// Thumbnail download flag; must be 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_download_flag: Option<i64>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One element of a `MsgBody`.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgElement {
    /// `TIMTextElem`.
    Text(TextElem),
    /// `TIMFaceElem`.
    Face(FaceElem),
    /// `TIMLocationElem`.
    Location(LocationElem),
    /// `TIMCustomElem`.
    Custom(CustomElem),
    /// `TIMSoundElem`.
    Sound(SoundElem),
    /// `TIMImageElem`.
    Image(ImageElem),
    /// `TIMFileElem`.
    File(FileElem),
    /// `TIMVideoFileElem`.
    Video(VideoFileElem),
    /// Any other `MsgType`, kept as read.
    Unknown {
        /// The `MsgType` string.
        msg_type: String,
        /// The `MsgContent` value.
        content: Value,
    },
}

impl MsgElement {
    /// A text element.
    pub fn text(text: impl Into<String>) -> MsgElement {
        MsgElement::Text(TextElem {
            text: text.into(),
            extra: Extra::new(),
        })
    }

    /// The element's kind, or `None` for [`MsgElement::Unknown`].
    pub fn kind(&self) -> Option<ElementKind> {
        Some(match self {
            MsgElement::Text(_) => ElementKind::Text,
            MsgElement::Face(_) => ElementKind::Face,
            MsgElement::Location(_) => ElementKind::Location,
            MsgElement::Custom(_) => ElementKind::Custom,
            MsgElement::Sound(_) => ElementKind::Sound,
            MsgElement::Image(_) => ElementKind::Image,
            MsgElement::File(_) => ElementKind::File,
            MsgElement::Video(_) => ElementKind::Video,
            MsgElement::Unknown { .. } => return None,
        })
    }

    /// The `MsgType` string as on the wire.
    pub fn msg_type(&self) -> &str {
        match self {
            MsgElement::Unknown { msg_type, .. } => msg_type,
            known => known.kind().map_or("", ElementKind::msg_type),
        }
    }

    /// The human-readable strings of the element, for restricted-word checks.
    pub fn texts(&self) -> Vec<&str> {
        fn opt(s: &Option<String>) -> Option<&str> {
            s.as_deref()
        }
        match self {
            MsgElement::Text(t) => vec![t.text.as_str()],
            MsgElement::Location(l) => opt(&l.desc).into_iter().collect(),
            MsgElement::Custom(c) => std::iter::once(c.data.as_str())
                .chain(opt(&c.desc))
                .chain(opt(&c.ext))
                .collect(),
            MsgElement::File(f) => opt(&f.file_name).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn content_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            MsgElement::Text(c) => serde_json::to_value(c),
            MsgElement::Face(c) => serde_json::to_value(c),
            MsgElement::Location(c) => serde_json::to_value(c),
            MsgElement::Custom(c) => serde_json::to_value(c),
            MsgElement::Sound(c) => serde_json::to_value(c),
            MsgElement::Image(c) => serde_json::to_value(c),
            MsgElement::File(c) => serde_json::to_value(c),
            MsgElement::Video(c) => serde_json::to_value(c),
            MsgElement::Unknown { content, .. } => Ok(content.clone()),
        }
    }
}

/// Bytes of the compact JSON of `body` (a `MsgBody`), as [`serde_json::to_vec`] would write it,
/// counted without building the text.
///
/// Each element's content is written straight from its struct rather than through a
/// [`serde_json::Value`]: its keys come in another order, which does not change the length.
pub fn body_json_len(body: &[MsgElement]) -> Result<usize, serde_json::Error> {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    struct Direct<'a>(&'a MsgElement);
    impl Serialize for Direct<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("MsgType", self.0.msg_type())?;
            match self.0 {
                MsgElement::Text(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Face(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Location(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Custom(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Sound(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Image(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::File(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Video(c) => m.serialize_entry("MsgContent", c)?,
                MsgElement::Unknown { content, .. } => m.serialize_entry("MsgContent", content)?,
            }
            m.end()
        }
    }
    struct Body<'a>(&'a [MsgElement]);
    impl Serialize for Body<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(Direct))
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, &Body(body))?;
    Ok(counter.0)
}

impl Serialize for MsgElement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let content = self.content_value().map_err(S::Error::custom)?;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("MsgType", self.msg_type())?;
        m.serialize_entry("MsgContent", &content)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for MsgElement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "MsgType")]
            msg_type: String,
            #[serde(rename = "MsgContent")]
            content: Value,
        }
        let raw = Raw::deserialize(d)?;
        fn parse<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            kind: &str,
            v: Value,
        ) -> Result<T, E> {
            // Fast path without path tracking; a failing content is decoded again for its path.
            if let Ok(t) = T::deserialize(&v) {
                return Ok(t);
            }
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." || path.is_empty() {
                    E::custom(format_args!("MsgContent of {kind}: {inner}"))
                } else {
                    E::custom(format_args!("MsgContent.{path} of {kind}: {inner}"))
                }
            })
        }
        let kind = raw.msg_type.as_str();
        Ok(match ElementKind::from_msg_type(kind) {
            Some(ElementKind::Text) => MsgElement::Text(parse(kind, raw.content)?),
            Some(ElementKind::Face) => MsgElement::Face(parse(kind, raw.content)?),
            Some(ElementKind::Location) => MsgElement::Location(parse(kind, raw.content)?),
            Some(ElementKind::Custom) => MsgElement::Custom(parse(kind, raw.content)?),
            Some(ElementKind::Sound) => MsgElement::Sound(parse(kind, raw.content)?),
            Some(ElementKind::Image) => MsgElement::Image(parse(kind, raw.content)?),
            Some(ElementKind::File) => MsgElement::File(parse(kind, raw.content)?),
            Some(ElementKind::Video) => MsgElement::Video(parse(kind, raw.content)?),
            None => {
                if !raw.content.is_object() {
                    return Err(D::Error::custom("MsgContent must be an object"));
                }
                MsgElement::Unknown {
                    msg_type: raw.msg_type,
                    content: raw.content,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counted length equals the length of the real encoding, for every element kind,
    /// unknown fields and floating-point coordinates included.
    #[test]
    fn body_json_len_matches_the_encoding() {
        let body: Vec<MsgElement> = serde_json::from_str(
            r#"[
            {"MsgType":"TIMTextElem","MsgContent":{"Text":"héllo \"q\" \u0001 🎉","Zeta":[1,2.5],"Alpha":null}},
            {"MsgType":"TIMFaceElem","MsgContent":{"Index":3,"Data":"x\u0000y"}},
            {"MsgType":"TIMLocationElem","MsgContent":{"Desc":"d","Latitude":22.5400000000001,"Longitude":-113}},
            {"MsgType":"TIMCustomElem","MsgContent":{"Data":"{}","Desc":"a","Ext":"b","Sound":"s"}},
            {"MsgType":"TIMSoundElem","MsgContent":{"Url":"u","UUID":"i","Size":1,"Second":2,"Download_Flag":2}},
            {"MsgType":"TIMImageElem","MsgContent":{"UUID":"i","ImageFormat":1,"ImageInfoArray":[{"Type":1,"Size":2,"Width":3,"Height":4,"URL":"u","Q":1}]}},
            {"MsgType":"TIMFileElem","MsgContent":{"Url":"u","UUID":"i","FileSize":1,"FileName":"f","Download_Flag":2}},
            {"MsgType":"TIMVideoFileElem","MsgContent":{"VideoUrl":"u","VideoUUID":"v","ThumbUrl":"t","ThumbUUID":"w","ThumbWidth":5}},
            {"MsgType":"TIMNewElem","MsgContent":{"B":1,"A":{"y":2,"x":1}}}
            ]"#,
        )
        .unwrap();
        for e in &body {
            let one = std::slice::from_ref(e);
            assert_eq!(
                body_json_len(one).unwrap(),
                serde_json::to_vec(one).unwrap().len(),
                "{e:?}"
            );
        }
        assert_eq!(
            body_json_len(&body).unwrap(),
            serde_json::to_vec(&body).unwrap().len()
        );
        assert_eq!(body_json_len(&[]).unwrap(), 2);
    }
}
