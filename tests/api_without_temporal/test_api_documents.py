"""Document upload and download: size and content checked, a document only under its own case,
and every download an access record."""

from __future__ import annotations

from tests.api_without_temporal.stub_api import PDF, REF_A, REF_B, Api, assert_problem


async def test_document_upload_checks_size_and_content(api: Api) -> None:
    url = f"/cases/{REF_A}/documents"
    big = PDF + b"0" * 5000
    assert_problem(
        await api.client.post(url, headers=api.h("caseworker"), files={"file": ("a.pdf", big)}), 413
    )
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    r = await api.client.post(
        url, headers=api.h("caseworker"), files={"file": ("letter.pdf", exe, "application/pdf")}
    )
    assert_problem(r, 415)
    assert_problem(await api.client.post(url, headers=api.h("caseworker"), json={"file": "x"}), 415)
    r = await api.client.post(url, headers=api.h("caseworker"), files={"other": ("a.pdf", PDF)})
    assert assert_problem(r, 422)["errors"][0]["field"] == "body.file"
    r = await api.client.post(url, headers=api.h("school_a"), files={"file": ("a.pdf", PDF)})
    assert_problem(r, 403)
    r = await api.client.post(
        "/cases/MN-26-ZZZZZ9/documents", headers=api.h("caseworker"), files={"file": ("a", PDF)}
    )
    assert_problem(r, 404)

    r = await api.client.post(
        url,
        headers=api.h("caseworker"),
        files={"file": ("x.bin", PDF, "image/png")},
        data={"kind": "gp_letter"},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["content_type"] == "application/pdf" and doc["kind"] == "gp_letter"
    assert doc["doc_ref"].startswith("doc-") and r.headers["location"] == doc["download_url"]

    r = await api.client.get(doc["download_url"], headers=api.h("supervisor"))
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert "attachment" in r.headers["content-disposition"]
    # The same document is not another case's.
    assert_problem(
        await api.client.get(f"/cases/{REF_B}/documents/{doc['doc_ref']}", headers=api.h("supervisor")), 404
    )

    r = await api.client.get("/access-records", params={"case_ref": REF_A}, headers=api.h("supervisor"))
    records = r.json()["items"]
    assert records[0]["actor_name"] == "supervisor-1" and doc["doc_ref"] in records[0]["what"]
