// The "Try it" page: draw on the canvas (or drop an image), shrink it to the model's image shape
// the way MNIST was made (the ink's bounding box fitted into the middle of the frame), and ask the
// served model through the REST API. No library: the canvas API and fetch.
"use strict";

(function () {
  const root = document.getElementById("try");
  const model = root.dataset.model;
  const api = "/serving/v1/models/" + encodeURIComponent(model);
  const canvas = document.getElementById("canvas");
  const context = canvas.getContext("2d");
  const answer = document.getElementById("answer");
  const status = document.getElementById("status");
  const bars = document.getElementById("bars");
  const SVG = "http://www.w3.org/2000/svg";
  let shape = null;
  let classNames = [];
  let drawing = false;

  function clear() {
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function inkBox(pixels, width, height) {
    let top = height, left = width, bottom = -1, right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (pixels[(y * width + x) * 4] > 32) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    return bottom < 0 ? null : { x: left, y: top, w: right - left + 1, h: bottom - top + 1 };
  }

  // The drawing as the model's [height][width][channels] pixels (0..255, white ink on black).
  function pixelsForModel() {
    const [height, width, channels] = shape;
    const full = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const box = inkBox(full, canvas.width, canvas.height);
    const small = document.createElement("canvas");
    small.width = width; small.height = height;
    const target = small.getContext("2d");
    target.fillStyle = "#000";
    target.fillRect(0, 0, width, height);
    if (box) {
      const frame = Math.min(width, height) >= 16 ? 0.7 : 1.0;  // MNIST: a 20-pixel box in 28
      const scale = frame * Math.min(width / box.w, height / box.h);
      const w = box.w * scale, h = box.h * scale;
      target.drawImage(canvas, box.x, box.y, box.w, box.h, (width - w) / 2, (height - h) / 2, w, h);
    }
    const data = target.getImageData(0, 0, width, height).data;
    const rows = [];
    for (let y = 0; y < height; y++) {
      const row = [];
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        row.push(channels === 1 ? [data[i]] : [data[i], data[i + 1], data[i + 2]]);
      }
      rows.push(row);
    }
    return rows;
  }

  function drawBars(probabilities) {
    while (bars.firstChild) bars.removeChild(bars.firstChild);
    const best = probabilities.indexOf(Math.max(...probabilities));
    const slot = 300 / probabilities.length;
    probabilities.forEach(function (p, i) {
      const bar = document.createElementNS(SVG, "rect");
      const h = p * 130;
      bar.setAttribute("class", "bar");
      bar.setAttribute("x", 20 + i * slot + slot * 0.1);
      bar.setAttribute("y", 140 - h);
      bar.setAttribute("width", slot * 0.8);
      bar.setAttribute("height", h);
      bar.setAttribute("fill", i === best ? "#1565c0" : "#90caf9");
      const title = document.createElementNS(SVG, "title");
      title.textContent = (classNames[i] || i) + ": " + p.toFixed(4);
      bar.appendChild(title);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 20 + i * slot + slot / 2);
      label.setAttribute("y", 155);
      label.setAttribute("text-anchor", "middle");
      label.setAttribute("font-size", "11");
      label.textContent = classNames[i] || String(i);
      bars.appendChild(bar);
      bars.appendChild(label);
    });
    return best;
  }

  async function predict() {
    if (!shape) return;
    const started = performance.now();
    const response = await fetch(api + ":predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ instances: [pixelsForModel()] }),
    });
    const body = await response.json();
    const elapsed = performance.now() - started;
    if (!response.ok) {
      answer.textContent = "The model refused: " + body.error;
      return;
    }
    const probabilities = body.predictions[0].probabilities;
    const best = drawBars(probabilities);
    const name = classNames[best] ? " (" + classNames[best] + ")" : "";
    answer.textContent = "Predicted class: " + best + name + ", " + (100 * probabilities[best]).toFixed(1) + "%";
    answer.dataset.predicted = String(best);
    status.textContent = "answered in " + elapsed.toFixed(0) + " ms by version " +
      response.headers.get("X-Model-Version");
    status.dataset.milliseconds = elapsed.toFixed(1);
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
  }

  canvas.addEventListener("pointerdown", function (event) {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
  });
  function finish() {
    if (!drawing) return;
    drawing = false;
    predict();
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  function showImage(file) {
    const reader = new FileReader();
    reader.onload = function () {
      const image = new Image();
      image.onload = function () {
        clear();
        const scale = Math.min(canvas.width / image.width, canvas.height / image.height);
        const w = image.width * scale, h = image.height * scale;
        context.drawImage(image, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
        // Dark ink on a light page becomes the training data's light ink on black.
        const corner = context.getImageData(0, 0, 4, 4).data;
        if (corner[0] > 128) {
          context.globalCompositeOperation = "difference";
          context.fillStyle = "#fff";
          context.fillRect(0, 0, canvas.width, canvas.height);
          context.globalCompositeOperation = "source-over";
        }
        predict();
      };
      image.src = reader.result;
    };
    reader.readAsDataURL(file);
  }

  canvas.addEventListener("dragover", function (event) { event.preventDefault(); });
  canvas.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer.files.length) showImage(event.dataTransfer.files[0]);
  });
  document.getElementById("file").addEventListener("change", function (event) {
    if (event.target.files.length) showImage(event.target.files[0]);
  });
  document.getElementById("clear").addEventListener("click", function () {
    clear();
    answer.textContent = "Draw a digit.";
  });

  clear();
  context.strokeStyle = "#fff";
  context.lineWidth = 22;
  context.lineCap = "round";
  context.lineJoin = "round";
  fetch(api + "/metadata").then(async function (response) {
    const body = await response.json();
    if (!response.ok) {
      status.textContent = "No model to ask yet: " + body.error;
      return;
    }
    shape = body.metadata.image_shape;
    classNames = body.metadata.class_names || [];
    status.textContent = "Model version " + body.model_spec.version + " takes " + shape.join("x") + " images.";
    root.dataset.ready = "true";
  });
})();
