//! The situations complaints are about: one per demo subscriber, or none.

/// The situations complaints are about, one per subscriber (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    Normal,
    VasNoConsent,
    PaidStillSuspended,
    PendingPlanChange,
    RoamingNoPack,
    CellOutage,
    BroadbandAlarm,
    TopupPending,
    PortOutRejected,
    DataOverage,
    DuplicateMonthlyFee,
    MarketingAfterOptOut,
    TerminalNot5g,
    DoublePayment,
    SuspendedForRealName,
    // Added for the diagnosis scenarios (indices 15.. of each cycle), so every cause has a subscriber.
    VoiceOverage,
    DataBilledEarly,
    VasConsented,
    PlanChangeRejected,
    BroadbandInstallDelayed,
    SuspendedArrears,
    TopupFailed,
    MarketingFrequent,
    MarketingThirdParty,
    TopupPendingOverdue,
    // Added for consistent demo data (indices 25..): situations the data lacked.
    CancelledStillBilled,
    SmsAndInternational,
    SimReplaced,
    RefundIssued,
    PaymentWrongNumber,
}

/// Subscribers repeat the situations every `CYCLE` indices; index `k` (1..=29) in each cycle has situation k.
pub const CYCLE: u64 = 40;

pub const SITUATIONS: [Situation; 30] = [
    Situation::Normal,
    Situation::VasNoConsent,
    Situation::PaidStillSuspended,
    Situation::PendingPlanChange,
    Situation::RoamingNoPack,
    Situation::CellOutage,
    Situation::BroadbandAlarm,
    Situation::TopupPending,
    Situation::PortOutRejected,
    Situation::DataOverage,
    Situation::DuplicateMonthlyFee,
    Situation::MarketingAfterOptOut,
    Situation::TerminalNot5g,
    Situation::DoublePayment,
    Situation::SuspendedForRealName,
    Situation::VoiceOverage,
    Situation::DataBilledEarly,
    Situation::VasConsented,
    Situation::PlanChangeRejected,
    Situation::BroadbandInstallDelayed,
    Situation::SuspendedArrears,
    Situation::TopupFailed,
    Situation::MarketingFrequent,
    Situation::MarketingThirdParty,
    Situation::TopupPendingOverdue,
    Situation::CancelledStillBilled,
    Situation::SmsAndInternational,
    Situation::SimReplaced,
    Situation::RefundIssued,
    Situation::PaymentWrongNumber,
];

impl Situation {
    pub fn of(index: u64) -> Situation {
        let k = (index % CYCLE) as usize;
        if k < SITUATIONS.len() {
            SITUATIONS[k]
        } else {
            Situation::Normal
        }
    }

    /// The first subscriber index with this situation.
    pub fn first_index(self) -> u64 {
        SITUATIONS
            .iter()
            .position(|s| *s == self)
            .map(|p| if p == 0 { CYCLE - 1 } else { p as u64 })
            .unwrap_or(0)
    }

    pub fn name(self) -> &'static str {
        match self {
            Situation::Normal => "normal",
            Situation::VasNoConsent => "vas_no_consent",
            Situation::PaidStillSuspended => "paid_still_suspended",
            Situation::PendingPlanChange => "pending_plan_change",
            Situation::RoamingNoPack => "roaming_no_pack",
            Situation::CellOutage => "cell_outage",
            Situation::BroadbandAlarm => "broadband_alarm",
            Situation::TopupPending => "topup_pending",
            Situation::PortOutRejected => "port_out_rejected",
            Situation::DataOverage => "data_overage",
            Situation::DuplicateMonthlyFee => "duplicate_monthly_fee",
            Situation::MarketingAfterOptOut => "marketing_after_opt_out",
            Situation::TerminalNot5g => "terminal_not_5g",
            Situation::DoublePayment => "double_payment",
            Situation::SuspendedForRealName => "suspended_for_real_name",
            Situation::VoiceOverage => "voice_overage",
            Situation::DataBilledEarly => "data_billed_early",
            Situation::VasConsented => "vas_consented",
            Situation::PlanChangeRejected => "plan_change_rejected",
            Situation::BroadbandInstallDelayed => "broadband_install_delayed",
            Situation::SuspendedArrears => "suspended_arrears",
            Situation::TopupFailed => "topup_failed",
            Situation::MarketingFrequent => "marketing_frequent",
            Situation::MarketingThirdParty => "marketing_third_party",
            Situation::TopupPendingOverdue => "topup_pending_overdue",
            Situation::CancelledStillBilled => "cancelled_still_billed",
            Situation::SmsAndInternational => "sms_and_international",
            Situation::SimReplaced => "sim_replaced",
            Situation::RefundIssued => "refund_issued",
            Situation::PaymentWrongNumber => "payment_wrong_number",
        }
    }

    /// What a handler would see, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Situation::Normal => "no known problem",
            Situation::VasNoConsent => "value-added service billed with no consent record",
            Situation::PaidStillSuspended => "paid after suspension for arrears, still suspended",
            Situation::PendingPlanChange => "plan change ordered, effective next month",
            Situation::RoamingNoPack => "roaming in Japan charged at standard rates, no pack applied",
            Situation::CellOutage => "serving cell down, open outage",
            Situation::BroadbandAlarm => "broadband port down with a LOS alarm",
            Situation::TopupPending => "top-up stuck in the payment channel",
            Situation::PortOutRejected => "port-out refused (contract term)",
            Situation::DataOverage => "data beyond the plan billed",
            Situation::DuplicateMonthlyFee => "monthly fee billed twice",
            Situation::MarketingAfterOptOut => "marketing contacts after opt-out",
            Situation::TerminalNot5g => "5G plan on a 4G-only handset",
            Situation::DoublePayment => "same payment taken twice",
            Situation::SuspendedForRealName => "line suspended for real-name verification",
            Situation::VoiceOverage => "voice minutes beyond the plan billed last month",
            Situation::DataBilledEarly => "data billed beyond the plan before the plan's data was used up",
            Situation::VasConsented => "value-added service with an SMS consent record",
            Situation::PlanChangeRejected => "plan downgrade rejected during the contract term",
            Situation::BroadbandInstallDelayed => "broadband installation past its promised date",
            Situation::SuspendedArrears => "suspended for arrears, balance negative, not paid",
            Situation::TopupFailed => "top-up failed at the payment channel",
            Situation::MarketingFrequent => "frequent marketing contacts, not opted out",
            Situation::MarketingThirdParty => "marketing complaint with no contact recorded",
            Situation::TopupPendingOverdue => "top-up pending at the channel for more than a day",
            Situation::CancelledStillBilled => "value-added service cancelled, still billed on the next bill",
            Situation::SmsAndInternational => "SMS beyond the plan and international calls billed last month",
            Situation::SimReplaced => "SIM card replaced (old card no longer works)",
            Situation::RefundIssued => "a top-up refunded to the payment channel",
            Situation::PaymentWrongNumber => "top-up paid to a mistyped number (130… instead of this one)",
        }
    }

    /// The deliberate break of the data's own consistency this situation is about, if any: a charge or
    /// status the rest of the data does not explain. Every other subscriber's charges are explained by
    /// their usage, subscriptions and payments (`tests::invariants` checks it).
    pub fn anomaly(self) -> Option<&'static str> {
        match self {
            Situation::DuplicateMonthlyFee => Some("the last bill carries the monthly fee twice"),
            Situation::DataBilledEarly => Some("data billed beyond the plan while half of it is left"),
            Situation::CancelledStillBilled => Some("a cancelled value-added service billed after cancellation"),
            Situation::PaidStillSuspended => Some("the last bill stays overdue after a later payment"),
            _ => None,
        }
    }
}
