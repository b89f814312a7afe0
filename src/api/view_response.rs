//! `GetSubscriberViewResponse`, written by hand instead of generated (`build.rs` maps the proto message
//! here with `extern_path`), so that a warm read can be answered with the view's bytes as kept
//! (`view/assembled.rs`) instead of copying and encoding the same view for every call.
//!
//! On the wire it is exactly the message of `proto/complaint/v1/complaint_data.proto`: field 1 is the
//! view (from `encoded_view` when set, else from `view`), 2 the sources, 3 the conflicts. Decoding (the
//! client side) fills `view`; `encoded_view` is only ever set by the server.
use crate::proto::complaint::v1::{FieldConflict, SourceStatus, SubscriberView};
use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, message, DecodeContext, WireType};
use prost::DecodeError;

/// The answer of `GetSubscriberView`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct GetSubscriberViewResponse {
    /// The view (decoded by clients; set by the server when it has no kept encoding).
    pub view: Option<SubscriberView>,
    /// One status per queried source, in configuration order.
    pub sources: Vec<SourceStatus>,
    /// Fields two or more sources gave different values for, and which source's value the view holds.
    pub conflicts: Vec<FieldConflict>,
    /// The view already encoded (a `SubscriberView` message's bytes); sent as field 1 in place of `view`.
    pub encoded_view: Option<Bytes>,
}

impl GetSubscriberViewResponse {
    /// The answer with `view` filled in from `encoded_view`, for a caller in the same process (the
    /// console) that reads the view rather than sending it on.
    pub fn into_decoded(mut self) -> Result<Self, DecodeError> {
        use prost::Message;
        if let Some(bytes) = self.encoded_view.take() {
            self.view = Some(SubscriberView::decode(bytes)?);
        }
        Ok(self)
    }
}

const VIEW: u32 = 1;
const SOURCES: u32 = 2;
const CONFLICTS: u32 = 3;

impl prost::Message for GetSubscriberViewResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(bytes) = &self.encoded_view {
            encoding::encode_key(VIEW, WireType::LengthDelimited, buf);
            encoding::encode_varint(bytes.len() as u64, buf);
            buf.put_slice(bytes);
        } else if let Some(view) = &self.view {
            message::encode(VIEW, view, buf);
        }
        message::encode_repeated(SOURCES, &self.sources, buf);
        message::encode_repeated(CONFLICTS, &self.conflicts, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let field = |e: DecodeError, name: &'static str| {
            let mut e = e;
            e.push("GetSubscriberViewResponse", name);
            e
        };
        match tag {
            VIEW => message::merge(wire_type, self.view.get_or_insert_with(Default::default), buf, ctx)
                .map_err(|e| field(e, "view")),
            SOURCES => message::merge_repeated(wire_type, &mut self.sources, buf, ctx).map_err(|e| field(e, "sources")),
            CONFLICTS => {
                message::merge_repeated(wire_type, &mut self.conflicts, buf, ctx).map_err(|e| field(e, "conflicts"))
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let view = match (&self.encoded_view, &self.view) {
            (Some(bytes), _) => {
                encoding::key_len(VIEW) + encoding::encoded_len_varint(bytes.len() as u64) + bytes.len()
            }
            (None, Some(view)) => message::encoded_len(VIEW, view),
            (None, None) => 0,
        };
        view + message::encoded_len_repeated(SOURCES, &self.sources)
            + message::encoded_len_repeated(CONFLICTS, &self.conflicts)
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::complaint::v1::{Customer, SourceState};
    use prost::Message;

    fn sample() -> GetSubscriberViewResponse {
        GetSubscriberViewResponse {
            view: Some(SubscriberView {
                msisdn: "13800000001".into(),
                customer: Some(Customer {
                    name: "张三".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            sources: vec![SourceStatus {
                source: "crm".into(),
                state: SourceState::Ok as i32,
                latency_ms: 3,
                ..Default::default()
            }],
            conflicts: vec![FieldConflict {
                field: "customer.name".into(),
                sources: vec!["crm".into(), "billing".into()],
                chosen_source: "crm".into(),
                reason: "owner".into(),
            }],
            encoded_view: None,
        }
    }

    #[test]
    fn the_kept_bytes_go_on_the_wire_exactly_as_the_view_would() {
        let plain = sample();
        let mut kept = plain.clone();
        kept.encoded_view = Some(Bytes::from(plain.view.as_ref().unwrap().encode_to_vec()));
        kept.view = None;
        assert_eq!(kept.encoded_len(), plain.encoded_len());
        assert_eq!(kept.encode_to_vec(), plain.encode_to_vec());
        // What a client decodes is the same answer, with the view filled in.
        let back = GetSubscriberViewResponse::decode(kept.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, plain);
        assert!(back.encoded_view.is_none());
        // In the same process, the kept bytes decode to the view.
        assert_eq!(kept.into_decoded().unwrap(), plain);
    }

    #[test]
    fn the_hand_written_message_has_every_field_of_the_proto() {
        // A field added to the message in `complaint_data.proto` must be added here too.
        let msg = crate::schema::message("complaint.v1.GetSubscriberViewResponse");
        let fields: Vec<(String, u32)> = msg.fields().map(|f| (f.name().to_string(), f.number())).collect();
        let ours = [("view", VIEW), ("sources", SOURCES), ("conflicts", CONFLICTS)];
        assert_eq!(fields, ours.map(|(n, t)| (n.to_string(), t)).to_vec());
    }

    #[test]
    fn decoding_skips_unknown_fields_and_names_the_bad_one() {
        let mut wire = sample().encode_to_vec();
        // Field 9, varint 1: unknown, skipped.
        wire.extend_from_slice(&[0x48, 0x01]);
        assert_eq!(GetSubscriberViewResponse::decode(wire.as_slice()).unwrap(), sample());
        // Field 2 claiming 100 bytes that are not there.
        let err = GetSubscriberViewResponse::decode(&[0x12, 0x64, 0x0a][..]).unwrap_err();
        assert!(err.to_string().contains("GetSubscriberViewResponse.sources"), "{err}");
    }
}
