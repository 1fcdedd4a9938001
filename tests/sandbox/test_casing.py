import pytest

from partnersync.sandbox.casing import camel_case


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Id", "id"),
        ("ID", "id"),
        ("Name", "name"),
        ("CrmId", "crmId"),
        ("IsActive", "isActive"),
        ("Partner_Tier__cf", "partner_Tier__cf"),
        ("LMS_Account_ID__cf", "lmS_Account_ID__cf"),
        ("TPA_Product_s__cf", "tpA_Product_s__cf"),
        ("NFR_CN_Series_Eval_Id__cf", "nfR_CN_Series_Eval_Id__cf"),
        ("PanW_Integration_Product__cf", "panW_Integration_Product__cf"),
        ("URLValue", "urlValue"),
        ("already", "already"),
        ("", ""),
    ],
)
def test_json_net_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected
