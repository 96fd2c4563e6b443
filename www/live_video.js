/*
 * live_video.js: the live video of a room page (live.html), as window.PulseLiveVideo.
 *
 *   var v = PulseLiveVideo.player(videoElement, stateElement, roomId);
 *   v.show(status);   // on every room status: 'LIVE' plays, anything else stops
 *
 * The video is HLS that nginx-rtmp cuts from the shop's RTMP stream (nginx-rtmp.conf),
 * served by the web server as /hls/<roomId>.m3u8: the play name is the room, never the
 * stream key. hls.js (www/vendor/hls.min.js, installed by `make player` from the npm
 * registry) plays it through Media Source Extensions; a browser without them that plays
 * HLS itself (Safari on iOS) gets the playlist as the video's src.
 *
 * The state element says what the viewer sees: "offline" while the room is not LIVE,
 * "connecting" while it is LIVE but no picture has come yet (the first fragments are cut a
 * second or two after the room turns LIVE, so the playlist may not be there yet), "live"
 * while it plays. A player that fails (no playlist yet, a stalled stream) is torn down and
 * started again every RETRY_MS for as long as the room is LIVE.
 *
 * Plain ES5, so it loads as a classic <script>.
 */
(function (root) {
  'use strict';

  var RETRY_MS = 2000;
  var HLS_TYPE = 'application/vnd.apple.mpegurl';
  var SAY = {                   // state -> what the viewer reads
    offline: 'offline', connecting: 'connecting…', live: 'live',
    unsupported: 'this browser cannot play the live video'
  };

  function player(video, state, roomId) {
    var url = 'hls/' + encodeURIComponent(roomId) + '.m3u8';
    var live = false;             // the room is LIVE: the video should play
    var hls = null;               // the hls.js instance while one runs
    var retry = null;

    function say(s) {
      state.textContent = SAY[s];
      state.setAttribute('data-state', s);
    }
    function teardown() {
      clearTimeout(retry);
      retry = null;
      if (hls) { hls.destroy(); hls = null; }
      if (video.getAttribute('src')) { video.removeAttribute('src'); video.load(); }
    }
    function again() {
      teardown();
      if (live) retry = setTimeout(start, RETRY_MS);
    }
    function play() {
      // Muted, so a browser lets it start without a click; the controls unmute it.
      var p = video.play();
      if (p && p.catch) p.catch(function () { /* the viewer presses play */ });
    }
    function start() {
      retry = null;
      if (!live) return;
      say('connecting');
      video.hidden = false;
      var Hls = root.Hls;
      if (Hls && Hls.isSupported()) {
        // Its transmuxing worker comes from our origin (the pages' CSP allows no blob: worker).
        hls = new Hls({ workerPath: 'vendor/hls.worker.js', liveSyncDurationCount: 2 });
        hls.on(Hls.Events.MANIFEST_PARSED, play);
        hls.on(Hls.Events.ERROR, function (ev, data) { if (data && data.fatal) again(); });
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType(HLS_TYPE)) {
        video.src = url;
        play();
      } else {
        say('unsupported');
      }
    }

    video.addEventListener('playing', function () { if (live) say('live'); });
    // The native player's failures (an iOS Safari without the playlist yet) retry like hls.js's.
    video.addEventListener('error', function () { if (live && !hls) again(); });
    say('offline');

    return {
      show: function (status) {
        if ((status === 'LIVE') === live) return;
        live = status === 'LIVE';
        if (live) { start(); return; }
        teardown();
        video.hidden = true;
        say('offline');
      }
    };
  }

  root.PulseLiveVideo = { player: player };
})(window);
