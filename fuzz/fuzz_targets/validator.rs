//! The validator on any JSON object, as a DeregisterTaskFromMaintenanceWindow input: it must
//! answer Ok, a ValidationException or a SerializationException, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssm_vcr::aws::envelope;
use ssm_vcr::aws::model::Model;
use ssm_vcr::error::ProxyError;

fuzz_target!(|data: &[u8]| {
    thread_local! { static MODEL: Model = Model::builtin(); }
    let Ok(input) = envelope::input(data) else { return };
    MODEL.with(|model| match model.validate("DeregisterTaskFromMaintenanceWindow", &input) {
        Ok(()) | Err(ProxyError::Validation { .. } | ProxyError::Serialization { .. }) => {}
        Err(other) => panic!("unexpected error: {other:?}"),
    });
});
