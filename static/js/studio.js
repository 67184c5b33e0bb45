// The playground's image field: drag and drop, previews, and the type and size checks made
// before anything is uploaded (the server checks again); and the mask brush, to paint on the
// first input image where it should change. Listeners sit on the document, so they keep
// working when htmx swaps the form's controls.
(function () {
  "use strict";

  function zoneOf(event) {
    return event.target.closest ? event.target.closest("[data-dropzone]") : null;
  }

  function choose(zone, files) {
    var input = zone.querySelector("input[type=file]");
    var types = input.accept.split(",");
    var maxBytes = Number(input.dataset.maxBytes);
    var kept = new DataTransfer();
    var problems = [];
    Array.prototype.forEach.call(files, function (file) {
      if (types.indexOf(file.type) < 0) {
        problems.push(file.name + " is not a PNG, JPEG or WebP image.");
      } else if (file.size > maxBytes) {
        problems.push(file.name + " is larger than " + Math.floor(maxBytes / 1048576) + " MB.");
      } else {
        kept.items.add(file);
      }
    });
    input.files = kept.files;
    zone.querySelector(".dropzone-error").textContent = problems.join(" ");
    var previews = zone.querySelector(".previews");
    previews.querySelectorAll("img").forEach(function (image) {
      URL.revokeObjectURL(image.src);
    });
    previews.replaceChildren();
    Array.prototype.forEach.call(kept.files, function (file) {
      var item = document.createElement("li");
      var image = document.createElement("img");
      image.src = URL.createObjectURL(file);
      image.alt = "Preview of " + file.name;
      var caption = document.createElement("span");
      caption.textContent = file.name + " · " + Math.ceil(file.size / 1024) + " KB";
      item.append(image, caption);
      previews.append(item);
    });
  }

  // The mask brush. The strokes are drawn on a canvas of the first input image's own pixels,
  // laid over it; after each stroke the mask file is made from them: a PNG of those pixels,
  // opaque where nothing was painted and fully transparent (alpha 0) where it was, which is
  // where OpenAI's edits change the image. Unpainted, no mask is sent.

  var stroke = null; // the canvas being painted on, and the last point of the stroke

  // The source of the first input image, in the order the server takes them: the reused run's
  // images, then picked results, then uploads.
  function firstInput(form) {
    var reused = form.querySelector("#id_inputs_of:checked");
    var pick = form.querySelector(".pick input:checked");
    var image =
      (reused && form.querySelector(".reused .thumbs img")) ||
      (pick && pick.nextElementSibling) ||
      form.querySelector(".previews img");
    return image ? image.src : "";
  }

  // Show the editor over the first input image; a new first image starts a new mask.
  function syncMask(form) {
    var editor = form && form.querySelector("[data-mask-editor]");
    if (!editor) {
      return;
    }
    var source = firstInput(form);
    var image = editor.querySelector("img");
    if ((image.getAttribute("src") || "") !== source) {
      clearMask(editor);
      if (source) {
        image.src = source;
      } else {
        image.removeAttribute("src");
      }
    }
    editor.hidden = !source;
  }

  function clearMask(editor) {
    var canvas = editor.querySelector("canvas");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    editor.querySelector("input[type=file]").files = new DataTransfer().files;
  }

  function saveMask(editor) {
    var strokes = editor.querySelector("canvas");
    var mask = document.createElement("canvas");
    mask.width = strokes.width;
    mask.height = strokes.height;
    var context = mask.getContext("2d");
    context.fillRect(0, 0, mask.width, mask.height);
    context.globalCompositeOperation = "destination-out";
    context.drawImage(strokes, 0, 0);
    var bytes = atob(mask.toDataURL("image/png").split(",")[1]);
    var data = new Uint8Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) {
      data[i] = bytes.charCodeAt(i);
    }
    var files = new DataTransfer();
    files.items.add(new File([data], "mask.png", { type: "image/png" }));
    editor.querySelector("input[type=file]").files = files.files;
  }

  // A point of the pointer in the image's own pixels, and how many of them a screen pixel is.
  function pointOf(canvas, event) {
    var box = canvas.getBoundingClientRect();
    var scale = canvas.width / box.width;
    return {
      x: (event.clientX - box.left) * scale,
      y: (event.clientY - box.top) * scale,
      scale: scale,
    };
  }

  function paint(event) {
    var canvas = stroke.canvas;
    var at = pointOf(canvas, event);
    var editor = canvas.closest("[data-mask-editor]");
    var width = Number(editor.querySelector("input[type=range]").value) * at.scale;
    var context = canvas.getContext("2d");
    context.fillStyle = context.strokeStyle = "#e0218a";
    context.lineWidth = width;
    context.lineCap = "round";
    context.beginPath();
    context.moveTo(stroke.last.x, stroke.last.y);
    context.lineTo(at.x, at.y);
    context.stroke();
    context.beginPath();
    context.arc(at.x, at.y, width / 2, 0, 2 * Math.PI);
    context.fill();
    stroke.last = at;
  }

  function endStroke() {
    if (stroke) {
      saveMask(stroke.canvas.closest("[data-mask-editor]"));
      stroke = null;
    }
  }

  document.addEventListener(
    "load",
    function (event) {
      var editor = event.target.closest && event.target.closest("[data-mask-editor]");
      if (editor && event.target.tagName === "IMG") {
        var canvas = editor.querySelector("canvas");
        canvas.width = event.target.naturalWidth;
        canvas.height = event.target.naturalHeight;
      }
    },
    true // load does not bubble
  );

  document.addEventListener("pointerdown", function (event) {
    var canvas = event.target.closest && event.target.closest("[data-mask-editor] canvas");
    if (canvas) {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      stroke = { canvas: canvas, last: pointOf(canvas, event) };
      paint(event);
    }
  });

  document.addEventListener("pointermove", function (event) {
    if (stroke) {
      paint(event);
    }
  });

  document.addEventListener("pointerup", endStroke);
  document.addEventListener("pointercancel", endStroke);

  document.addEventListener("click", function (event) {
    var clear = event.target.closest && event.target.closest("[data-mask-clear]");
    if (clear) {
      clearMask(clear.closest("[data-mask-editor]"));
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    syncMask(document.getElementById("run-form"));
  });
  syncMask(document.getElementById("run-form"));

  document.addEventListener("change", function (event) {
    var zone = zoneOf(event);
    if (zone && event.target.type === "file") {
      choose(zone, event.target.files);
    }
    syncMask(event.target.form);
  });

  document.addEventListener("dragover", function (event) {
    var zone = zoneOf(event);
    if (zone) {
      event.preventDefault();
      zone.classList.add("over");
    }
  });

  document.addEventListener("dragleave", function (event) {
    var zone = zoneOf(event);
    if (zone && !zone.contains(event.relatedTarget)) {
      zone.classList.remove("over");
    }
  });

  document.addEventListener("drop", function (event) {
    var zone = zoneOf(event);
    if (!zone) {
      return;
    }
    event.preventDefault();
    zone.classList.remove("over");
    var input = zone.querySelector("input[type=file]");
    choose(zone, Array.from(input.files).concat(Array.from(event.dataTransfer.files)));
    syncMask(zone.closest("form"));
  });
})();
