//! complaint-gateway: one gRPC API over billing, CRM and network-resource databases.
//!
//! The request path, one module each: [`api`] (gRPC surface) → [`view`] (fan-out and merge) →
//! [`adapters`] (one per backend, declared in `adapters/<system>/`). [`config`] loads the gateway config;
//! [`seed`] generates the demo backends.
pub mod adapters;
pub mod analytics;
pub mod api;
pub mod assets;
pub mod cache;
pub mod cases;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod console;
pub mod db;
pub mod diagnosis;
pub mod error;
pub mod framing;
pub mod identity;
pub mod logsum;
pub mod metrics;
pub mod msisdn;
pub mod read;
pub mod region;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod stack;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tools;
pub mod usage;
pub mod view;

pub mod proto {
    //! Generated code of `proto/complaint/v1`.
    pub mod complaint {
        pub mod v1 {
            tonic::include_proto!("complaint.v1");
            // Mapped by `build.rs` to a hand-written message (kept encodings of warm views).
            pub use crate::api::view_response::GetSubscriberViewResponse;
        }
    }
    /// Encoded descriptor set of the public contract (reflection and schema checks).
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/complaint_descriptor.bin"));
}
pub mod classify;
