//! HTML rendering shared by the screens: the page shell ([`layout`]), charts drawn as inline
//! SVG ([`chart`]), the forms that post actions ([`form`]) and how values read ([`fmt`]).
//! Everything goes through maud, which escapes every value it interpolates.

pub(crate) mod chart;
pub(crate) mod fmt;
pub(crate) mod form;
pub(crate) mod layout;

pub(crate) use layout::{error_page, page};
