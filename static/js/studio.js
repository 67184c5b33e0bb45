// The playground's image field: drag and drop, previews, and the type and size checks made
// before anything is uploaded (the server checks again). Listeners sit on the document, so
// they keep working when htmx swaps the form's controls.
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

  document.addEventListener("change", function (event) {
    var zone = zoneOf(event);
    if (zone && event.target.type === "file") {
      choose(zone, event.target.files);
    }
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
  });
})();
