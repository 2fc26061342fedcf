import base64
import re

import numpy as np

from sensorimotor.train.report import HtmlReport, new_figure


def test_report_is_self_contained(tmp_path):
    report = HtmlReport("Run <1>")
    report.section("Numbers").text("a < b").table(
        [{"metric": "mse", "value": 0.123456}, {"metric": "acc", "extra": 1}]
    )
    report.table({"steps": 10})
    report.line_plot(
        {"loss": ([0, 1, 2], [3.0, 2.0, 1.0]), "baseline": ([0, 2], [3.0, 3.0])},
        title="loss",
        logy=True,
    )
    report.image(np.zeros((4, 6, 3), np.uint8), caption="frame", scale=4)
    report.image(np.ones((4, 6)), caption="float frame")
    fig, ax = new_figure()
    ax.plot([1, 2])
    report.figure(fig, caption="custom")
    path = report.write(tmp_path / "report.html")
    html = path.read_text()
    assert "Run &lt;1&gt;" in html and "a &lt; b" in html and "0.1235" in html
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http" not in html  # nothing fetched from elsewhere
