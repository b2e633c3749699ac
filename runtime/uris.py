"""The source and sink URIs `segnet run` and the runtime accept, written once (jetson-inference style);
runtime/sources.py and runtime/sinks.py parse them, `segnet run --help` quotes these tables."""

SOURCE_URIS = """\
    0, /dev/video0, v4l2:///dev/video0    V4L2 camera (width/height/fps requested from the driver)
    csi://0                               Jetson CSI camera (nvarguscamerasrc; OpenCV with GStreamer)
    rtsp://..., http(s)://...             network stream (FFmpeg, or GStreamer when FFmpeg cannot open it)
    video.mp4, image.png                  a video or one image (file:// prefix optional)
    folder/, 'frames/*.jpg'               images of a folder or a glob, in name order
    synthetic://?frames=300&size=240x320&seed=1&fps=30   the built-in moving road scene
    'videotestsrc ! videoconvert ! appsink'              a raw GStreamer pipeline (contains '!')
"""

SINK_URIS = """\
    out.mp4, out.avi              a video (cv2.VideoWriter; written under a temporary name and renamed on
                                  close, so an interrupted run still leaves a complete, playable file)
    out/, folder://out            PNGs: the rendered frame and the raw class map (pixel value = class index)
    display://0                   an OpenCV window (`q` or Esc stops the run); needs a GUI build and a display
    http://127.0.0.1:8080         a live page: MJPEG stream plus statistics (see segnet.runtime.http_view)
    null                          discard (measure the pipeline without output costs)
"""
